"""`[[wallboard]]` settings: defaults, every refusal names its key, ports shared by address."""
from __future__ import annotations


import re

import pytest

from firmware_bridge.registry import kind, tables
from appliance.config import ConfigError, parse_config
from firmware_bridge.wallboard.settings import (DEFAULT_TEMPLATE, WallboardSettings, files_needed,
                                                group_by_port, template_fields)

TOML = """
[[wallboard]]
name = "floor-1"
port = "/dev/appliance/wallboard-1"
address = "01"
queues = ["sales", "support"]

[[wallboard]]
name = "floor-2"
port = "/dev/appliance/wallboard-1"
address = "02"
queues = ["billing"]
template = "{queue}: {waiting} waiting, ASA {asa}"
ack = false

[[wallboard]]
name = "lobby"
port = "spy:///dev/appliance/wallboard-2"
queues = ["sales"]
"""


def entries() -> list[WallboardSettings]:
    return list(parse_config('[site]\nid = "s"\n' + TOML).wallboard)


def test_toml_tables_become_settings_with_the_documented_defaults():
    first = entries()[0]
    assert first.queues == ("sales", "support") and first.template == DEFAULT_TEMPLATE
    assert (first.baudrate, first.bytesize, first.parity, first.stopbits, first.type) == (9600, 7, "E", 1, "Z")
    assert (first.stale_after_s, first.min_interval_s, first.ack, first.rs485) == (30, 1.0, False, False)
    assert (first.reconnect_delay, first.reconnect_delay_max) == (1.0, 30.0)


def test_signs_on_one_port_are_grouped_one_driver_per_port():
    groups = group_by_port(entries())
    assert [[e.name for e in g] for g in groups] == [["floor-1", "floor-2"], ["lobby"]]


@pytest.mark.parametrize("change, key", [
    ({"address": "1"}, "address"), ({"address": "0G"}, "address"), ({"baudrate": 1000}, "baudrate"),
    ({"bytesize": 6}, "bytesize"), ({"parity": "X"}, "parity"), ({"type": "ZZ"}, "type"),
    ({"type": "0"}, "type"), ({"queues": ()}, "queues"), ({"queues": ("a", "a")}, "queues"),
    ({"template": "{queue} {nonsense}"}, "template"), ({"template": "{waiting:>3}"}, "template"),
    ({"template": "{waiting"}, "template"), ({"stale_after_s": 0}, "stale_after_s"),
    ({"min_interval_s": -1}, "min_interval_s"), ({"retries": 20}, "retries"),
    ({"reconnect_delay_max": 0.5}, "reconnect_delay_max"), ({"port": "/dev/ttyS0"}, "port"),
    ({"mode": "sideways"}, "mode"),
    ({"queues": tuple("abcdefg")}, "queues"),           # 7 queues x 4 fields: 35 files > 26
])
def test_validate_names_the_key(change, key):
    base = dict(name="wb", port="/dev/appliance/wallboard-1", queues=("sales",))
    with pytest.raises(ValueError, match=f"^{key}: "):
        WallboardSettings(**{**base, **change}).validate()


@pytest.mark.parametrize("table, message", [
    ('name = "a"\nport = "/dev/x"\nqueues = ["q"]\ncolour = "red"', "wallboard[0]: unknown key 'colour'"),
    ('name = "a"\nqueues = ["q"]', "wallboard[0].port: missing"),
    ('name = "a"\nport = "/dev/x"\nqueues = "sales"', "wallboard[0].queues: expected a list"),
])
def test_the_config_file_refuses_unknown_and_missing_keys(table, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(f'[site]\nid = "s"\n[[wallboard]]\n{table}\n')


@pytest.mark.parametrize("second, key", [
    ({"address": "01"}, "address"), ({"address": "00"}, "address"), ({"baudrate": 4800}, "baudrate"),
    ({"ack": True}, "ack"), ({"rs485": True}, "rs485"), ({"name": "a"}, "name"),
])
def test_signs_sharing_a_port_must_agree_on_the_port(second, key):
    a = WallboardSettings(name="a", port="/dev/x", address="01", queues=("q",))
    b = WallboardSettings(**{**dict(name="b", port="/dev/x", address="02", queues=("q",)), **second})
    with pytest.raises(ValueError, match=f"^{key}: "):
        group_by_port([a, b])


def test_file_budget_counts_one_text_per_queue_and_one_string_per_live_field():
    assert template_fields(DEFAULT_TEMPLATE) == ("queue", "waiting", "longest_wait",
                                                 "agents_available", "service_level")
    assert files_needed(5, DEFAULT_TEMPLATE) == 25
    assert files_needed(2, "{waiting} {waiting} {asa}") == 6


def test_registry_entry_loads_every_part():
    entry = kind("alpha")
    assert entry.table == "wallboard" and entry.role == "wallboard" and entry.selector == ""
    assert entry.load("settings") is WallboardSettings
    assert entry.load("driver").kind == "alpha" and entry.load("emulator").__name__ == "SignEmulator"
    assert entry in tables()["wallboard"]
