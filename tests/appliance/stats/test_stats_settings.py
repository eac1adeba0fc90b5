"""The [[queue]] table: defaults, and every bad value named by its key."""
from __future__ import annotations

import pytest

from appliance.config import ConfigError, parse_config
from appliance.stats.settings import QueueSettings, by_name, settings_for

TOML = """
[[queue]]
name = "support"
service_level_s = 30
short_abandon_s = 8
alert_longest_wait_s = 90
alert_service_level_pct = 80
alert_waiting = 5
alert_hysteresis_pct = 15

[[queue]]
name = "sales"
"""


def parse(text: str):
    return parse_config('[site]\nid = "s"\n' + text)


def test_tables_from_toml_with_defaults():
    support, sales = parse(TOML).queue
    assert (support.service_level_s, support.short_abandon_s, support.alert_service_level_pct) == (30, 8, 80.0)
    assert isinstance(support.alert_service_level_pct, float)
    assert sales == QueueSettings("sales")
    assert (sales.service_level_s, sales.short_abandon_s, sales.wrap_up_s, sales.window_s) == (20, 5, 10, 3600)
    assert (sales.alert_longest_wait_s, sales.alert_service_level_pct, sales.alert_waiting) == (0, 0.0, 0)
    assert list(by_name([support, sales])) == ["support", "sales"]
    assert settings_for(by_name([support]), "other") == QueueSettings("other")


@pytest.mark.parametrize("table, message", [
    ("", "queue[0].name: missing"),
    ('name = ""', "queue[0].name: expected a non-empty name"),
    ('name = " x"', "queue[0].name: expected a non-empty name"),
    ('name = "q"\ncolour = "red"', "queue[0]: unknown key 'colour'"),
    ('name = "q"\nservice_level_s = 0', "queue[0].service_level_s: expected 1..3600, got 0"),
    ('name = "q"\nservice_level_s = 20.5', "queue[0].service_level_s: expected an integer"),
    ('name = "q"\nservice_level_s = true', "queue[0].service_level_s: expected an integer"),
    ('name = "q"\nshort_abandon_s = -1', "queue[0].short_abandon_s: expected 0..3600"),
    ('name = "q"\nwrap_up_s = 4000', "queue[0].wrap_up_s: expected 0..3600"),
    ('name = "q"\nwindow_s = 30', "queue[0].window_s: expected 60..86400"),
    ('name = "q"\nalert_longest_wait_s = -5', "queue[0].alert_longest_wait_s: expected 0..86400"),
    ('name = "q"\nalert_service_level_pct = 101', "queue[0].alert_service_level_pct: expected 0..100"),
    ('name = "q"\nalert_service_level_pct = "80"', "queue[0].alert_service_level_pct: expected a number"),
    ('name = "q"\nalert_waiting = -1', "queue[0].alert_waiting: expected 0..100000"),
    ('name = "q"\nalert_hysteresis_pct = 100', "queue[0].alert_hysteresis_pct: expected 0..99"),
    ('name = "q"\n[[queue]]\nname = "q"', "queue: duplicate queue 'q'"),
])
def test_bad_values_name_their_key(table, message):
    with pytest.raises(ConfigError) as err:
        parse(f"[[queue]]\n{table}\n")
    assert str(err.value).startswith(f"<string>: {message}")


def test_validate_on_a_directly_built_value_and_duplicates():
    with pytest.raises(ValueError, match="^window_s: "):
        QueueSettings("q", window_s=10).validate()
    with pytest.raises(ValueError, match="^name: duplicate queue 'q'"):
        by_name([QueueSettings("q"), QueueSettings("q")])
