"""Call-control capabilities from descriptors: controls, their classification, and clear refusals."""
from __future__ import annotations

import pytest

from firmware_bridge.exceptions import DescriptorError
from firmware_bridge.headset.controls import find_controls, require_call_control
from firmware_bridge.headset.descriptor import parse_descriptor

from headset_layouts import CONSTANT_HOOK, ON_OFF, TWO_COLLECTIONS, UNNUMBERED
from headset_support import descriptor


def layout(controls) -> set[tuple]:
    return {(c.name, c.report_id, c.bit_offset, c.size, c.kind) for c in controls}


# Expected controls per real descriptor, read from the dumps by hand (firmware_bridge/headset/descriptors/README.md).
REAL = {
    "jabra-link380c.bin": dict(
        call_control=True,
        inputs={("hook_switch", 2, 0, 1, "switch"), ("phone_mute", 2, 3, 1, "toggle"),
                ("flash", 2, 4, 1, "toggle"), ("redial", 2, 5, 1, "toggle"),
                ("programmable", 2, 11, 1, "switch")},
        outputs={("off_hook", 2, 0, 1, "indicator"), ("mute", 2, 2, 1, "indicator"),
                 ("ring", 2, 3, 1, "indicator"), ("hold", 2, 4, 1, "indicator"),
                 ("microphone", 2, 5, 1, "indicator"), ("ringer", 2, 7, 1, "indicator")}),
    "microsoft-sidewinder-game-voice.bin": dict(
        call_control=False, reason="no Hook Switch",
        inputs={("programmable", 0, bit, 1, "switch") for bit in range(8)}, outputs=set()),
    "razer-kraken-kitty-v2.bin": dict(call_control=False, reason="no Hook Switch", inputs=set(), outputs=set()),
    "logitech-unifying-receiver.bin": dict(call_control=False, reason="no telephony collection",
                                           inputs=set(), outputs=set()),
    "belkin-nostromo-speedpad-mouse.bin": dict(call_control=False, reason="no telephony collection",
                                               inputs=set(), outputs=set()),
    "polycom-cx300.bin": dict(
        call_control=True,
        inputs={("hook_switch", 1, 0, 1, "switch"), ("flash", 1, 1, 1, "switch"),
                ("redial", 1, 2, 1, "switch"), ("phone_mute", 1, 4, 1, "toggle"),
                ("programmable", 1, 5, 1, "switch")},
        outputs={("off_hook", 2, 0, 1, "indicator")}),
    "dell-sp325.bin": dict(
        call_control=True,
        inputs={("hook_switch", 5, 0, 1, "switch"), ("phone_mute", 5, 1, 1, "toggle"),
                ("redial", 5, 2, 1, "toggle"), ("flash", 5, 3, 1, "toggle"),
                ("programmable", 5, 7, 1, "switch")},
        outputs={("off_hook", 5, 0, 1, "indicator"), ("mute", 5, 1, 1, "indicator"),
                 ("ring", 5, 2, 1, "indicator"), ("hold", 5, 3, 1, "indicator"),
                 ("microphone", 5, 4, 1, "indicator")}),
    "razer-rz19-0229-gaming-microphone.bin": dict(
        call_control=False, reason="declared constant",
        inputs={("hook_switch", 2, 0, 1, "switch")}, outputs=set()),
    "boya-mini2-receiver.bin": dict(
        call_control=True,
        inputs={("hook_switch", 7, 0, 1, "switch"), ("flash", 7, 8, 1, "toggle"),
                ("phone_mute", 7, 9, 1, "toggle"), ("programmable", 7, 15, 1, "momentary")},
        outputs={("off_hook", 7, 1, 1, "indicator"), ("ring", 7, 2, 1, "indicator"),
                 ("hold", 7, 7, 1, "indicator"), ("microphone", 7, 8, 1, "indicator"),
                 ("mute", 7, 14, 1, "indicator")}),
    "apple-lightning-earpods.bin": dict(call_control=False, reason="no Hook Switch",
                                        inputs={("flash", 0, 0, 1, "switch")}, outputs=set()),
    "apple-third-party-earbuds.bin": dict(call_control=False, reason="no telephony collection",
                                          inputs=set(), outputs=set()),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_descriptor_controls_and_classification(name):
    expected = REAL[name]
    caps = find_controls(descriptor(name))
    assert caps.call_control is expected["call_control"]
    assert layout(caps.inputs) == expected["inputs"]
    assert layout(caps.outputs) == expected["outputs"]
    if caps.call_control:
        assert caps.reason == ""
    else:
        assert expected["reason"] in caps.reason and "\n" not in caps.reason


def test_jabra_constant_flagged_hook_switch_is_still_call_control():
    """The Link 380c flags its working telephony inputs constant; its LEDs are data."""
    caps = find_controls(descriptor("jabra-link380c.bin"))
    assert all(c.constant for c in caps.input("hook_switch"))
    assert caps.call_control
    assert any("declared constant" in w for w in caps.warnings)
    # The vendor page 0xFF30 mirror of the same usages is not mistaken for telephony.
    assert {c.report_id for c in caps.inputs} == {2}


@pytest.mark.parametrize("name", ["jabra-link380c.bin", "boya-mini2-receiver.bin"])
def test_constant_flagged_inputs_beside_data_indicators_are_read_with_a_warning(name):
    """Both flag every telephony input constant but drive Off-Hook/Ring LEDs as data."""
    caps = find_controls(descriptor(name))
    assert caps.call_control and all(c.constant for c in caps.inputs if c.name != "programmable")
    assert not any(c.constant for c in caps.output("off_hook") + caps.output("ring"))
    assert caps.warnings == ("Hook Switch is declared constant; read anyway because the device has "
                             "call-state indicators",)


def test_gaming_microphone_with_a_constant_hook_switch_is_refused():
    """Razer RZ19-0229: a telephony collection holding only a constant Hook Switch, no LEDs."""
    data = descriptor("razer-rz19-0229-gaming-microphone.bin")
    caps = find_controls(data)
    assert [c.constant for c in caps.input("hook_switch")] == [True] and caps.outputs == ()
    with pytest.raises(DescriptorError, match="declared constant.*gaming"):
        require_call_control(data)


def test_phone_with_controls_in_logical_sub_collections_and_a_vendor_collection():
    """Polycom CX300: hook/LED reports sit in Logical collections under Phone; 0xFF99 is ignored."""
    caps = find_controls(descriptor("polycom-cx300.bin"))
    desc = caps.descriptor
    assert caps.telephony_collections == (0x000B0001,)
    hook = caps.input("hook_switch")[0]
    field = next(f for f in desc.fields if f.kind == "input" and 0x000B0020 in f.usages)
    assert desc.collections[field.collections[-1]].kind == "logical" and hook.collection == 0
    assert {c.report_id for c in caps.inputs} == {1} and {c.report_id for c in caps.outputs} == {2}
    assert any(c.usage_page == 0xFF99 and c.kind == "application" for c in desc.collections)


def test_hook_switch_outside_a_telephony_collection_is_named_in_the_refusal():
    """Third-party earbuds (Apple's IOHIDFamily test) put a Hook Switch in Consumer Control."""
    with pytest.raises(DescriptorError, match="Hook Switch lies outside any telephony collection"):
        require_call_control(descriptor("apple-third-party-earbuds.bin"))
    caps = find_controls(descriptor("belkin-nostromo-speedpad-mouse.bin"))
    assert "Hook Switch" not in caps.reason


def test_constant_hook_switch_without_indicators_is_refused_with_the_reason():
    caps = find_controls(CONSTANT_HOOK)
    assert not caps.call_control
    assert "declared constant" in caps.reason and "gaming" in caps.reason
    with pytest.raises(DescriptorError, match="declared constant"):
        require_call_control(CONSTANT_HOOK)


def test_no_telephony_collection_is_refused_in_one_line():
    with pytest.raises(DescriptorError) as info:
        require_call_control(descriptor("belkin-nostromo-speedpad-mouse.bin"))
    assert str(info.value).startswith("no telephony collection (usage page 0x0B)")
    assert "0x0001" in str(info.value) and "\n" not in str(info.value)


def test_keyboard_leds_outside_a_telephony_collection_are_not_headset_leds():
    caps = find_controls(descriptor("belkin-nostromo-speedpad-mouse.bin"))
    desc = parse_descriptor(descriptor("belkin-nostromo-speedpad-mouse.bin"))
    assert any(f.kind == "output" and f.usages[0] >> 16 == 0x08 for f in desc.fields)
    assert caps.outputs == ()


def test_several_telephony_collections_are_merged():
    caps = find_controls(TWO_COLLECTIONS)
    assert caps.call_control and caps.telephony_collections == (0x000B0005, 0x000B0001)
    assert layout(caps.inputs) == {("hook_switch", 1, 0, 1, "switch"), ("phone_mute", 1, 1, 1, "toggle"),
                                   ("redial", 4, 0, 1, "toggle")}
    assert layout(caps.outputs) == {("off_hook", 2, 0, 1, "indicator"), ("mute", 3, 0, 1, "indicator"),
                                    ("ring", 5, 0, 1, "indicator"), ("hold", 5, 1, 1, "indicator")}


@pytest.mark.parametrize("data, hook, mute", [
    (UNNUMBERED, "switch", "toggle"),          # absolute 0..1 / relative 0..1 with preferred state
    (ON_OFF, "on_off", "on_off"),              # relative -1..1
])
def test_on_off_control_types(data, hook, mute):
    caps = find_controls(data)
    assert caps.input("hook_switch")[0].kind == hook and caps.input("phone_mute")[0].kind == mute


def test_summary_is_plain_values():
    summary = find_controls(descriptor("jabra-link380c.bin")).summary()
    assert summary["call_control"] and "hook_switch report 2 bit 0 size 1 switch constant" in summary["inputs"]
