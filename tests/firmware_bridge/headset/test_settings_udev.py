"""The [[headset]] table's validation, and the udev rules' stable names for headset hidraw nodes."""
from __future__ import annotations

import dataclasses

import pytest

from firmware_bridge.headset.settings import HeadsetSettings

from ops.test_systemd_units import RULES, evaluate, parse_rules, usb_child, usb_device


def good(**changes) -> HeadsetSettings:
    return dataclasses.replace(HeadsetSettings("hs-1", "/dev/appliance/headset-x", agent="1001",
                                               queues=("sales",)), **changes)


def test_defaults_validate():
    s = good().validate()
    assert (s.descriptor_file, s.audio, s.debounce_s, s.reconnect_delay, s.reconnect_delay_max) == ("", "", 0.3, 1.0, 30.0)


@pytest.mark.parametrize("changes, message", [
    ({"name": ""}, "name: must be a non-empty string"),
    ({"hidraw": " "}, "hidraw: must be a non-empty string"),
    ({"agent": ""}, "agent: must be a non-empty string"),
    ({"queues": ("sales", "")}, "queues: must be a list of non-empty queue names"),
    ({"queues": ("sales", "sales")}, "queues: lists a queue twice"),
    ({"debounce_s": -0.1}, "debounce_s: must be a number from 0 to 5"),
    ({"debounce_s": True}, "debounce_s: must be a number"),
    ({"reconnect_delay": 0}, "reconnect_delay: must be a number"),
    ({"reconnect_delay": 10.0, "reconnect_delay_max": 5.0}, "reconnect_delay_max: must not be below"),
    ({"audio": 3}, "audio: must be a string"),
])
def test_bad_values_name_the_key(changes, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        good(**changes).validate()


@pytest.fixture(scope="module")
def rules():
    parsed, errors = parse_rules(RULES.read_text())
    assert errors == []
    return parsed


@pytest.mark.parametrize("vid, pid, names, link", [
    ("1395", "00a2", ("EPOS", "IMPACT_D"), "appliance/headset-EPOS_IMPACT_D_A1B2C3-if03"),
    ("6993", "b02b", ("Yealink", "WH66"), "appliance/headset-Yealink_WH66_A1B2C3-if03"),
    ("046d", "0a8f", ("Logitech", "USB_Headset"), "appliance/headset-Logitech_USB_Headset_A1B2C3-if03"),
    ("047f", "c056", ("Plantronics", "Blackwire_3220"), "appliance/headset-Plantronics_Blackwire_3220_A1B2C3-if03"),
])
def test_headset_hidraw_nodes_get_a_stable_name_by_serial(rules, vid, pid, names, link):
    node, builtins = usb_child(usb_device(vid, pid, "A1B2C3"), 3, "hidraw", "hidraw4", names=names)
    out = evaluate(rules, node, builtins)
    assert out.symlinks == {link}
    assert (out.group, out.mode, "systemd" in out.tags) == ("appliance", "0660", True)


def test_logitech_mice_and_receivers_are_not_headsets(rules):
    node, builtins = usb_child(usb_device("046d", "c077"), 0, "hidraw", "hidraw1")
    out = evaluate(rules, node, builtins)
    assert out.symlinks == set() and out.group is None
