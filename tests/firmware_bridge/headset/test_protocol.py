"""The sans-IO protocol: input reports to requests, host state to LED reports, quirks filtered (injected clock)."""
from __future__ import annotations

import pytest

from firmware_bridge.events import HeadsetButton, HookSwitch, PhoneMute, ProtocolError
from firmware_bridge.exceptions import DescriptorError
from firmware_bridge.headset.controls import find_controls
from firmware_bridge.headset.protocol import HeadsetProtocol

from headset_layouts import CONSTANT_HOOK, ON_OFF, TWO_COLLECTIONS, UNNUMBERED
from headset_support import descriptor


def proto(data: bytes, clock, **kw) -> HeadsetProtocol:
    return HeadsetProtocol(find_controls(data), clock=clock, **kw)


def test_numbered_reports_jabra(clock):
    p = proto(descriptor("jabra-link380c.bin"), clock)
    assert p.feed(bytes([2, 0x01, 0x00])) == [HookSwitch(True)]          # lifted
    clock.advance(1)
    assert p.feed(bytes([2, 0x09, 0x00])) == [PhoneMute(True)]           # mute pressed (host unmuted)
    assert p.feed(bytes([2, 0x01, 0x00])) == []                          # mute released
    clock.advance(1)
    assert p.feed(bytes([2, 0x11, 0x00])) == [HeadsetButton("flash")]
    assert p.feed(bytes([2, 0x01, 0x08])) == [HeadsetButton("programmable")]   # bit 11
    clock.advance(1)
    assert p.feed(bytes([2, 0x00, 0x00])) == [HookSwitch(False)]          # hung up
    assert p.feed(bytes([1, 0x01, 0x00])) == []                           # volume report: not ours
    assert p.counters["ignored"] == 1


def test_unnumbered_reports(clock):
    p = proto(UNNUMBERED, clock)
    assert p.feed(b"\x01") == [HookSwitch(True)]
    assert p.set_state(ring=False, off_hook=True, mute=True) == [b"\x00\x03"]   # leading 0 on writes


def test_wrong_length_and_unknown_id_are_protocol_errors_with_raw_kept(clock):
    p = proto(descriptor("jabra-link380c.bin"), clock)
    assert p.feed(bytes([2, 1, 0, 0])) == [ProtocolError("input report 2: 3 data bytes, expected 2", bytes([2, 1, 0, 0]))]
    assert p.feed(bytes([9, 1])) == [ProtocolError("unknown input report id 9", bytes([9, 1]))]
    assert p.feed(b"") == [ProtocolError("empty report", b"")]
    assert p.counters["errors"] == 3
    # Too short to hold the programmable button at bit 11: an error, not a guess.
    assert p.feed(bytes([2, 1])) == [ProtocolError("input report 2: 1 data bytes, expected 2", bytes([2, 1]))]
    assert p.feed(bytes([2, 1, 0])) == [HookSwitch(True)]                # the daemon reads on


def test_toggle_mute_one_then_zero_is_one_request_resolved_against_host_state(clock):
    p = proto(UNNUMBERED, clock)
    assert [e for r in (b"\x02", b"\x00") for e in p.feed(r)] == [PhoneMute(True)]
    p.set_state(ring=False, off_hook=True, mute=True)
    clock.advance(1)
    assert [e for r in (b"\x02", b"\x00") for e in p.feed(r)] == [PhoneMute(False)]


def test_toggle_hook_switch_press_asks_for_the_other_state(clock):
    p = proto(TWO_COLLECTIONS, clock)
    assert p.feed(bytes([4, 1])) + p.feed(bytes([4, 0])) == [HeadsetButton("redial")]
    caps = find_controls(descriptor("jabra-link380c.bin"))
    assert caps.input("phone_mute")[0].kind == "toggle"


def test_on_off_buttons(clock):
    p = proto(ON_OFF, clock)
    assert p.feed(b"\x01") == [HookSwitch(True)]         # hook +1
    assert p.feed(b"\x00") == []
    clock.advance(1)
    assert p.feed(b"\x03") == [HookSwitch(False)]        # hook -1 (2-bit two's complement)
    assert p.feed(b"\x04") == [PhoneMute(True)]          # mute +1 at bits 2-3


def test_double_report_within_window_counts_once(clock):
    p = proto(UNNUMBERED, clock, debounce_s=0.3)
    events = []
    for report in (b"\x02", b"\x02", b"\x00", b"\x00"):  # the same press sent twice
        events += p.feed(report)
        clock.advance(0.01)
    assert events == [PhoneMute(True)]
    clock.advance(0.05)
    assert p.feed(b"\x02") + p.feed(b"\x00") == []      # a second pulse 70 ms later: the same press
    assert p.counters["debounced"] == 3
    clock.advance(0.5)
    assert p.feed(b"\x02") == [PhoneMute(True)]          # host state unchanged: still "mute, please"


def test_debounce_window_is_configurable(clock):
    p = proto(UNNUMBERED, clock, debounce_s=0.0)
    assert p.feed(b"\x04") + p.feed(b"\x00") + p.feed(b"\x04") == [HeadsetButton("flash")] * 2


def test_hook_echo_after_host_off_hook_is_ignored(clock):
    p = proto(UNNUMBERED, clock, echo_window_s=1.0)
    p.set_state(ring=False, off_hook=True, mute=False)   # answered from the agent's screen
    clock.advance(0.05)
    assert p.feed(b"\x01") == []                          # the headset echoes Off-Hook back
    assert p.counters["echo_ignored"] == 1
    clock.advance(2)
    assert p.feed(b"\x00") == [HookSwitch(False)]         # a real hang-up later is heard


def test_hook_change_against_host_state_inside_the_window_is_not_an_echo(clock):
    p = proto(UNNUMBERED, clock)
    p.set_state(ring=False, off_hook=True, mute=False)
    p.feed(b"\x01")
    clock.advance(0.1)
    assert p.feed(b"\x00") == [HookSwitch(False)]


def test_set_state_writes_only_what_changed_and_off_hook_first(clock):
    p = proto(TWO_COLLECTIONS, clock)
    assert p.set_state(ring=True, off_hook=False, mute=False) == [bytes([5, 0x01])]
    assert p.set_state(ring=False, off_hook=True, mute=True) == [bytes([2, 1]), bytes([5, 0]), bytes([3, 1])]
    assert p.set_state(ring=False, off_hook=True, mute=True) == []
    assert p.set_state(ring=False, off_hook=True, mute=True, hold=True) == [bytes([5, 0x02])]
    # Ring shares report 5 with Hold: turning Ring on keeps the Hold bit.
    assert p.set_state(ring=True, off_hook=True, mute=True, hold=True) == [bytes([5, 0x03])]


def test_led_writes_keep_every_other_bit_of_the_report(clock):
    p = proto(descriptor("jabra-link380c.bin"), clock)
    assert p.set_state(ring=True, off_hook=False, mute=False) == [bytes([2, 0x88, 0x00])]  # Ring + Ringer
    assert p.set_state(ring=False, off_hook=True, mute=False) == [bytes([2, 0x01, 0x00])]
    assert p.set_state(ring=False, off_hook=True, mute=True) == [bytes([2, 0x25, 0x00])]   # Mute + Microphone
    assert p.full_state() == [bytes([2, 0x25, 0x00])]


def test_refused_device_cannot_get_a_protocol(clock):
    with pytest.raises(DescriptorError, match="declared constant"):
        proto(CONSTANT_HOOK, clock)
