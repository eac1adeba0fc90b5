"""How values look on the sign, which colour a queue gets, and how a template becomes sign files."""
from __future__ import annotations

import pytest

from appliance.wallboard.formatting import format_value, mmss
from appliance.wallboard.layout import build_layout
from appliance.wallboard.levels import Thresholds, level
from firmware_bridge.wallboard.alpha import StringRef


@pytest.mark.parametrize("seconds, shown", [(0, "0:00"), (5, "0:05"), (59.5, "1:00"), (65, "1:05"),
                                            (3599, "59:59"), (3725, "62:05"), (-3, "0:00")])
def test_times_are_minutes_and_seconds(seconds, shown):
    assert mmss(seconds) == shown
    assert format_value("longest_wait", seconds) == shown


@pytest.mark.parametrize("field, value, shown", [
    ("service_level", 92.5, "93"), ("service_level", 92.49, "92"), ("abandon_rate", 0.4, "0"),
    ("waiting", 3, "3"), ("waiting", 2.6, "3"), ("asa", 12, "0:12"), ("aht", 301, "5:01"),
    ("waiting", None, "--"), ("service_level", float("nan"), "--"), ("asa", "soon", "--"),
    ("waiting", True, "--"),
])
def test_values_and_missing_values(field, value, shown):
    assert format_value(field, value) == shown


@pytest.mark.parametrize("figures, expected", [
    ({}, "green"), ({"longest_wait": None, "service_level": None}, "green"),
    ({"longest_wait": 89}, "green"), ({"longest_wait": 90}, "amber"), ({"longest_wait": 120}, "red"),
    ({"service_level": 85.1}, "green"), ({"service_level": 85}, "amber"), ({"service_level": 80}, "red"),
    ({"longest_wait": 100, "service_level": 50}, "red"), ({"longest_wait": 10, "service_level": 84}, "amber"),
])
def test_levels_from_thresholds_with_an_amber_band(figures, expected):
    assert level(figures, Thresholds(alert_longest_wait_s=120, alert_service_level_pct=80)) == expected


def test_thresholds_refuse_nonsense():
    with pytest.raises(ValueError):
        Thresholds(alert_longest_wait_s=0)
    with pytest.raises(ValueError):
        Thresholds(alert_service_level_pct=101)


def test_template_becomes_literal_text_and_one_string_per_field_per_queue():
    layout = build_layout(("sales", "support"), "{queue}: {waiting} waiting ({waiting}), ASA {asa}")
    sales, support = layout.queues
    assert sales.parts == ("sales", ": ", StringRef("a"), " waiting (", StringRef("a"), "), ASA ",
                           StringRef("b"))
    assert (sales.text_label, support.text_label) == ("A", "B")
    assert support.strings == (("waiting", "c"), ("asa", "d")) and support.label_of("asa") == "d"
    files = layout.files()
    assert [(f.label, f.kind) for f in files] == [("A", "text"), ("B", "text"), ("a", "string"),
                                                  ("b", "string"), ("c", "string"), ("d", "string")]
    text = layout.text_command(sales, "green")
    assert len(text.data) - 1 <= files[0].size and files[0].size % 16 == 0


def test_too_many_files_is_refused():
    with pytest.raises(ValueError):
        build_layout(tuple("abcdefg"), "{queue} {waiting} {asa} {aht}")
