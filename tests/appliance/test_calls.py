"""The call state machine: line events and SMDR records in, CallRecords out, on an injected clock."""
from __future__ import annotations

import itertools
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from appliance.calls import CallTracker, DeviceInfo
from appliance.store import Store
from firmware_bridge.events import (CallConnected, CallEnded, CallerId, CallStatus, CommandResult,
                                    PanasonicSmdrRecord, ProtocolError, Ring)
from firmware_bridge.at.protocol import AtCodec
from firmware_bridge.smdr.avaya import parse_line as avaya_line
from firmware_bridge.smdr.legs import leg_reader
from firmware_bridge.smdr.panasonic import PanasonicOptions

SITE = "site-a"
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)
LONDON = ZoneInfo("Europe/London")
GSM = DeviceInfo(name="line1", kind="gsm", queue="sales", line_number="+441632960001")
MODEM = DeviceInfo(name="modem1", kind="voice-modem", queue="support")
AVAYA = DeviceInfo(name="pbx1", kind="avaya-ipo", queue="sales", tz=LONDON)
CALLER = "+15551234567"


def tracker(**kw) -> CallTracker:
    counter = itertools.count(1)
    return CallTracker(SITE, new_id=lambda: f"id{next(counter)}", **kw)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def feed(t: CallTracker, source: DeviceInfo, script) -> list:
    """(seconds after T0, event) pairs, ticking before each, as the daemon does."""
    out = []
    for s, event in script:
        out += t.tick(at(s))
        out += t.handle(source, event, at(s))
    return out


# ---- lines: inbound ---------------------------------------------------------------------

def test_inbound_call_answered_and_hung_up(caplog):
    t = tracker()
    with caplog.at_level(logging.DEBUG):
        [r] = feed(t, GSM, [
            (0, Ring()), (0.1, CallerId(CALLER, name="ACME")), (3, Ring()), (3.1, CallerId(CALLER, name="ACME")),
            (5, CallConnected()), (65, CallEnded("no_carrier")),
        ])
    assert (r.direction, r.disposition, r.caller, r.caller_name) == ("inbound", "answered", CALLER, "ACME")
    assert (r.callee, r.queue, r.agent, r.source, r.source_kind) == ("+441632960001", "sales", "line1", "line1", "gsm")
    assert (r.started_at, r.answered_at, r.ended_at) == ("2026-01-05T09:00:00Z", "2026-01-05T09:00:05Z",
                                                         "2026-01-05T09:01:05Z")
    assert (r.ring_s, r.talk_s, r.hold_s) == (5, 60, 0)
    assert r.key == f"{SITE}/line1/id1"
    assert r.raw.startswith("+0.0s Ring() x2; +0.1s CallerId(number='+15551234567', name='ACME') x2")
    assert "CallEnded(reason='no_carrier')" in r.raw
    assert t.in_progress() == 0
    assert not caplog.records          # a pure machine: it logs nothing, so it leaks no numbers


def test_a_pbx_line_agent_name_is_used_when_configured():
    t = tracker()
    desk = DeviceInfo(name="line2", kind="gsm", queue="sales", agent="desk-7")
    [r] = feed(t, desk, [(0, Ring()), (2, CallConnected()), (9, CallEnded("no_carrier"))])
    assert r.agent == "desk-7"


@pytest.mark.parametrize("ending", [
    CallEnded("no_carrier"),
    CallEnded("missed_call", number=CALLER),
    CallStatus(1, "inbound", "disconnected", number=CALLER),
], ids=["no_carrier", "missed_call", "clcc_disconnect"])
def test_caller_hanging_up_before_answer_is_abandoned(ending):
    t = tracker()
    [r] = feed(t, GSM, [
        (0, CallStatus(1, "inbound", "incoming", number=CALLER)), (0, Ring()), (0.2, CallerId(CALLER)),
        (3, Ring()), (4.5, ending),
    ])
    assert (r.disposition, r.direction, r.caller, r.agent) == ("abandoned", "inbound", CALLER, "")
    assert (r.answered_at, r.ring_s, r.talk_s) == ("", 5, 0)
    assert r.ended_at == "2026-01-05T09:00:05Z"


def test_rings_that_stop_end_the_call_as_abandoned_at_the_last_ring():
    t = tracker(ring_timeout_s=8)
    assert feed(t, MODEM, [(0, Ring()), (1, CallerId("5551234", name="JOHN DOE")), (6, Ring())]) == []
    assert t.tick(at(13.9)) == []                       # less than 8 s since the last ring
    [r] = t.tick(at(14))
    assert (r.disposition, r.caller, r.caller_name, r.source_kind) == ("abandoned", "5551234", "JOHN DOE",
                                                                        "voice-modem")
    assert (r.started_at, r.ended_at, r.ring_s) == ("2026-01-05T09:00:00Z", "2026-01-05T09:00:06Z", 6)
    assert r.raw.endswith("rings_stopped")
    assert t.tick(at(30)) == [] and t.in_progress() == 0


def test_a_new_caller_while_ringing_means_the_first_caller_gave_up():
    """Rings stopped and the next call rang before ring_timeout_s could tell: two calls, not one."""
    t = tracker(ring_timeout_s=8)
    other = "+15550000001"
    records = feed(t, GSM, [
        (0, Ring()), (0.1, CallerId(CALLER)), (3, Ring()), (3.1, CallerId(CALLER)),
        (4, Ring()), (4.1, CallerId(other)), (6, CallConnected()), (20, CallEnded("no_carrier")),
    ])
    first, second = records
    # The RING before the new +CLIP cannot be told apart: it is counted to the first call.
    assert (first.caller, first.disposition, first.ended_at) == (CALLER, "abandoned", "2026-01-05T09:00:04Z")
    assert (second.caller, second.disposition, second.talk_s) == (other, "answered", 14)
    assert first.key != second.key
    assert second.started_at == "2026-01-05T09:00:04Z"


def test_the_same_caller_id_repeated_each_ring_is_one_call():
    t = tracker()
    records = feed(t, GSM, [(0, Ring()), (0.1, CallerId(CALLER)), (3, Ring()), (3.1, CallerId(CALLER)),
                            (5, CallEnded("no_carrier"))])
    assert len(records) == 1 and records[0].disposition == "abandoned"


def test_a_clcc_only_ringing_call_does_not_time_out():
    t = tracker(ring_timeout_s=8)
    feed(t, GSM, [(0, CallStatus(1, "inbound", "incoming", number=CALLER))])
    assert t.tick(at(60)) == []                         # no RINGs to stop: wait for its disconnect
    [r] = t.handle(GSM, CallStatus(1, "inbound", "disconnected"), at(61))
    assert r.disposition == "abandoned" and r.ring_s == 61


def test_missed_call_alone_is_an_abandoned_call():
    t = tracker()
    [r] = feed(t, GSM, [(10, CallEnded("missed_call", number=CALLER))])
    assert (r.disposition, r.caller, r.ring_s, r.started_at, r.ended_at) == (
        "abandoned", CALLER, 0, "2026-01-05T09:00:10Z", "2026-01-05T09:00:10Z")


def test_stray_line_endings_make_no_call():
    t = tracker()
    assert feed(t, GSM, [(0, CallEnded("no_carrier")), (1, CallStatus(1, "inbound", "disconnected"))]) == []
    assert t.in_progress() == 0


@pytest.mark.parametrize("validity", ["withheld", "unavailable"])
def test_withheld_caller_id_keeps_the_number_empty_and_says_why(validity):
    t = tracker()
    [r] = feed(t, GSM, [(0, Ring()), (0.1, CallerId("", validity=validity)), (2, CallEnded("no_carrier"))])
    assert (r.caller, r.caller_name) == ("", validity)


def test_withheld_caller_stays_withheld_when_clcc_shows_no_number():
    t = tracker()
    [r] = feed(t, GSM, [(0, Ring()), (0.1, CallerId("", validity="withheld")),
                        (1, CallStatus(1, "inbound", "incoming")), (2, CallEnded("no_carrier"))])
    assert (r.caller, r.caller_name) == ("", "withheld")


def test_hold_time_is_counted_and_taken_out_of_talk_time():
    t = tracker()
    [r] = feed(t, GSM, [
        (0, CallStatus(1, "inbound", "incoming", number=CALLER)), (4, CallStatus(1, "inbound", "active")),
        (14, CallStatus(1, "inbound", "held")), (44, CallStatus(1, "inbound", "active")),
        (64, CallStatus(1, "inbound", "disconnected")),
    ])
    assert (r.disposition, r.ring_s, r.hold_s, r.talk_s) == ("answered", 4, 30, 30)


def test_a_second_call_on_the_line_does_not_disturb_the_first():
    t = tracker()
    [r] = feed(t, GSM, [
        (0, CallStatus(1, "inbound", "incoming", number=CALLER)), (2, CallStatus(1, "inbound", "active")),
        (10, CallStatus(2, "inbound", "waiting", number="+15550000000")),
        (12, CallStatus(2, "inbound", "disconnected")),
        (20, CallStatus(1, "inbound", "disconnected")),
    ])
    assert (r.caller, r.talk_s, r.disposition) == (CALLER, 18, "answered")


def test_voice_call_end_duration_is_the_talk_time():
    t = tracker()
    [r] = feed(t, GSM, [(0, Ring()), (2, CallConnected()), (19.6, CallEnded("voice_call_end", duration_s=17)),
                        (19.7, CallEnded("no_carrier"))])   # the trailing NO CARRIER is not a second call
    assert (r.talk_s, r.disposition) == (17, "answered")
    assert t.in_progress() == 0


# ---- lines: outbound --------------------------------------------------------------------

def test_outbound_call_dialled_answered_and_ended():
    t = tracker()
    number = "+441632960999"
    [r] = feed(t, GSM, [
        (0, CallStatus(1, "outbound", "dialing", number=number)), (1, CallStatus(1, "outbound", "alerting")),
        (9, CallStatus(1, "outbound", "active")), (52, CallEnded("voice_call_end", duration_s=42)),
    ])
    assert (r.direction, r.disposition, r.caller, r.callee, r.dialled_number) == (
        "outbound", "answered", "+441632960001", number, number)
    assert (r.ring_s, r.talk_s, r.answered_at, r.agent) == (9, 42, "2026-01-05T09:00:09Z", "line1")


@pytest.mark.parametrize("script, disposition", [
    ([CallStatus(1, "outbound", "dialing", number="123"), CallEnded("busy")], "busy"),
    ([CallStatus(1, "outbound", "dialing", number="123"), CallStatus(1, "outbound", "alerting"),
      CallEnded("no_answer")], "no_answer"),
    ([CallStatus(1, "outbound", "dialing", number="123"), CallStatus(1, "outbound", "alerting"),
      CallStatus(1, "outbound", "disconnected")], "no_answer"),
    ([CallStatus(1, "outbound", "dialing", number="123"), CallEnded("no_carrier")], "failed"),
], ids=["busy", "no_answer", "alerting_then_gone", "never_alerted"])
def test_unanswered_outbound_calls(script, disposition):
    t = tracker()
    [r] = feed(t, GSM, [(i * 5, e) for i, e in enumerate(script)])
    assert (r.direction, r.disposition, r.answered_at, r.talk_s, r.agent) == ("outbound", disposition, "", 0, "")
    assert r.callee == "123"


# ---- lines: devices going away ----------------------------------------------------------

def test_a_line_that_disappears_mid_call_ends_it_as_failed():
    t = tracker()
    feed(t, GSM, [(0, Ring()), (3, CallConnected())])
    [r] = t.device_down("line1", at(33))
    assert (r.disposition, r.talk_s, r.ended_at) == ("failed", 30, "2026-01-05T09:00:33Z")
    assert r.raw.endswith("device_down")
    assert [(s.name, s.up, s.call) for s in t.lines()] == [("line1", False, None)]
    assert t.device_down("line1", at(34)) == [] and t.device_down("unknown", at(34)) == []
    t.handle(GSM, Ring(), at(40))                       # it came back and rings again
    assert t.lines()[0].up and t.lines()[0].call.state == "ringing"


def test_non_call_events_make_no_records():
    t = tracker()
    assert t.handle(GSM, ProtocolError("bad line", b"\xff\xfe"), at(0)) == []
    assert t.handle(GSM, CommandResult("AT+CLCC", True), at(0)) == []
    assert t.handle(GSM, CommandResult("ATA", True), at(0)) == []
    assert t.in_progress() == 0


# ---- lines: through the real AT codec ---------------------------------------------------

def wire(t: CallTracker, source: DeviceInfo, script) -> list:
    """(seconds, bytes from the modem | "AT..." the host sent) through AtCodec into the tracker."""
    codec = AtCodec(source.kind)
    out = []
    for s, item in script:
        out += t.tick(at(s))
        if isinstance(item, str):
            codec.command_sent(item)
            continue
        for event in codec.feed(item):
            out += t.handle(source, event, at(s))
    return out


def test_sim7600_inbound_answered_with_ata():
    t = tracker()
    cring = b'\r\n+CRING: VOICE\r\n\r\n+CLIP: "+15551234567",145,"",,"",0\r\n'
    [r] = wire(t, GSM, [(0, cring), (3, cring), (4, "ATA"), (4.5, b"ATA\r\r\nVOICE CALL: BEGIN\r\n\r\nOK\r\n"),
                        (21, b"\r\nNO CARRIER\r\n"), (21.1, b"\r\nVOICE CALL: END: 000017\r\n")])
    assert (r.direction, r.disposition, r.caller, r.ring_s, r.talk_s) == ("inbound", "answered", CALLER, 5, 16)
    assert t.in_progress() == 0


def test_outbound_dial_with_clcc_reports_is_one_call():
    t = tracker()
    [r] = wire(t, GSM, [
        (0, "ATD10086;"), (0.1, b'\r\nOK\r\n\r\n+CLCC: 1,0,2,0,0,"10086",129\r\n'),
        (1, b'\r\n+CLCC: 1,0,3,0,0,"10086",129\r\n'), (6, b'\r\n+CLCC: 1,0,0,0,0,"10086",129\r\n'),
        (66, b'\r\n+CLCC: 1,0,6,0,0,"10086",129\r\n\r\nNO CARRIER\r\n'),
    ])
    assert (r.direction, r.disposition, r.callee, r.ring_s, r.talk_s) == ("outbound", "answered", "10086", 6, 60)
    assert t.in_progress() == 0


@pytest.mark.parametrize("result, disposition", [(b"BUSY", "busy"), (b"NO ANSWER", "no_answer"),
                                                  (b"NO DIALTONE", "failed"), (b"ERROR", "failed")])
def test_a_dial_that_fails_without_clcc_is_recorded_from_its_result(result, disposition):
    t = tracker()
    [r] = wire(t, MODEM, [(0, "ATD5551234;"), (4, b"\r\n" + result + b"\r\n")])
    assert (r.direction, r.disposition, r.callee, r.dialled_number) == ("outbound", disposition, "5551234", "5551234")


def test_outbound_busy_with_clcc_is_not_recorded_twice():
    t = tracker()
    [r] = wire(t, GSM, [(0, "ATD5551234;"), (0.1, b'\r\n+CLCC: 1,0,2,0,0,"5551234",129\r\n'),
                        (4, b"\r\nBUSY\r\n")])
    assert (r.disposition, r.callee) == ("busy", "5551234")


def test_classic_modem_connect_after_atd_is_an_outbound_call():
    t = tracker()
    [r] = wire(t, MODEM, [(0, "ATD5551234"), (9, b"\r\nCONNECT\r\n"), (69, b"\r\nNO CARRIER\r\n")])
    assert (r.direction, r.disposition, r.callee, r.talk_s) == ("outbound", "answered", "5551234", 60)


def test_call_waiting_through_the_codec_leaves_the_first_call_alone():
    t = tracker()
    [r] = wire(t, GSM, [
        (0, b'\r\n+CLCC: 1,1,4,0,0,"+15551234567",145\r\n'), (3, b'\r\n+CLCC: 1,1,0,0,0,"+15551234567",145\r\n'),
        (10, b'\r\n+CLCC: 2,1,5,0,0,"+15550000000",145\r\n'), (12, b'\r\n+CLCC: 2,1,6,0,0,"+15550000000",145\r\n'),
        (30, b'\r\n+CLCC: 1,1,6,0,0,"+15551234567",145\r\n'),
    ])
    assert (r.caller, r.disposition, r.talk_s) == (CALLER, "answered", 27)


def test_voice_modem_withheld_caller_whose_rings_stop():
    t = tracker(ring_timeout_s=8)
    assert wire(t, MODEM, [(0, b"RING\r\n\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = P\r\n\r\n"),
                           (6, b"RING\r\n")]) == []
    [r] = t.tick(at(14))
    assert (r.disposition, r.caller, r.caller_name, r.ring_s) == ("abandoned", "", "withheld", 6)


def test_line_call_keys_are_unique_per_call():
    t = CallTracker(SITE)
    keys = {r.key for i in range(50) for r in feed(t, GSM, [(i * 10, Ring()), (i * 10 + 1, CallEnded("no_carrier"))])}
    assert len(keys) == 50 and all(k.startswith(f"{SITE}/line1/") for k in keys)


# ---- Avaya IP Office SMDR ---------------------------------------------------------------

LOST = b"2008/06/28 09:28:41,00:00:00,9,8004206,I,4324,4324,,0,1000014155,0,E4324,Joe Bloggs,T9161,LINE 5.1,0,0"
LEG1 = (b"2008/06/28 09:30:57,00:00:13,7,01707392200,I,299999,299999,,0,1000014160,1,E4750,John Smith,"
        b"T9002,LINE 1.2,11,0")
LEG2 = (b"2008/06/28 09:30:57,00:00:21,0,01707392200,I,299999,299999,,0,1000014160,0,V9502,VM Channel 2,"
        b"T9002,LINE 1.2,0,0")
INTERNAL = (b"2008/06/26 10:27:44,00:00:44,4,4688,O,4207,4207,,1,1000013898,0,E4688,Joe Bloggs,E4207,"
            b"John Smith,0,0")
OUT_NO_ANSWER = (b"2008/12/01 14:02:10,00:00:00,25,4688,O,01707392200,901707392200,,0,1000020001,0,E4688,"
                 b"Joe Bloggs,T9003,LINE 1.3,0,0")
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def smdr(t: CallTracker, *lines: bytes, source: DeviceInfo = AVAYA) -> list:
    return [r for line in lines for r in t.handle(source, avaya_line(line), NOW)]


def test_lost_incoming_call_is_abandoned_with_no_agent():
    [r] = smdr(tracker(), LOST)
    assert (r.direction, r.disposition, r.agent, r.caller, r.callee) == ("inbound", "abandoned", "", "8004206", "4324")
    # 28 June is British Summer Time: 09:28:41 in London is 08:28:41 UTC.
    assert (r.started_at, r.answered_at, r.ended_at) == ("2008-06-28T08:28:41Z", "", "2008-06-28T08:28:50Z")
    assert (r.ring_s, r.talk_s, r.pbx_call_id, r.leg, r.final_leg) == (9, 0, "1000014155", 1, True)
    assert r.raw == LOST.decode("latin-1") and r.source_kind == "avaya-ipo"


def test_a_transferred_call_is_two_legs_with_their_own_times():
    t = tracker()
    first, second = smdr(t, LEG1, LEG2)
    assert (first.pbx_call_id, first.leg, first.final_leg) == ("1000014160", 1, False)
    assert (second.pbx_call_id, second.leg, second.final_leg) == ("1000014160", 2, True)
    assert (first.agent, first.disposition, first.ring_s, first.talk_s, first.hold_s) == ("4750", "answered", 7, 13, 11)
    assert (first.answered_at, first.ended_at) == ("2008-06-28T08:31:04Z", "2008-06-28T08:31:28Z")   # 7+13+11
    assert (second.agent, second.talk_s, second.ended_at) == ("", 21, "2008-06-28T08:31:18Z")       # voicemail
    assert first.key != second.key
    assert smdr(t, LEG1)[0].leg == 1                     # the same call id now starts a new call


def test_internal_call_names_the_calling_extension():
    [r] = smdr(tracker(), INTERNAL)
    assert (r.direction, r.disposition, r.agent, r.caller_name, r.callee) == (
        "internal", "answered", "4688", "Joe Bloggs", "4207")


def test_outbound_call_not_connected_is_no_answer():
    [r] = smdr(tracker(), OUT_NO_ANSWER)
    assert (r.direction, r.disposition, r.agent, r.dialled_number) == ("outbound", "no_answer", "4688", "901707392200")
    assert r.started_at == "2008-12-01T14:02:10Z"        # winter: London is on UTC


def test_smdr_keys_are_deterministic_so_resent_records_deduplicate():
    a, b = tracker(), tracker()
    assert smdr(a, LOST)[0].key == smdr(b, LOST)[0].key
    assert smdr(a, LOST)[0].key.startswith(f"{SITE}/pbx1/")
    other = DeviceInfo(name="pbx2", kind="avaya-ipo", queue="sales", tz=LONDON)
    assert smdr(a, LOST, source=other)[0].key != smdr(a, LOST)[0].key
    assert smdr(a, LEG1)[0].key != smdr(a, LEG2)[0].key


def test_smdr_keys_lead_with_the_call_time_so_they_arrive_nearly_sorted():
    """The store's unique key index then grows at its end: insert speed stays flat at millions of rows."""
    t = tracker()
    early, late = smdr(t, LOST)[0], smdr(t, LEG1)[0]
    assert early.started_at < late.started_at
    assert early.key < late.key
    stamp = late.started_at.replace("-", "").replace(":", "").rstrip("Z")
    assert late.key.startswith(f"{SITE}/pbx1/{stamp}-")


def test_a_resent_leg_keeps_its_leg_number():
    t = tracker()
    first, again, second = smdr(t, LEG1, LEG1, LEG2)
    assert (first.leg, again.leg, second.leg) == (1, 1, 2)
    assert first == again


@pytest.mark.parametrize("call_start, started_utc", [
    ("2024/01/15 10:00:00", "2024-01-15T10:00:00Z"),     # GMT
    ("2024/07/01 10:00:00", "2024-07-01T09:00:00Z"),     # BST
    ("2024/10/27 01:30:00", "2024-10-27T00:30:00Z"),     # the repeated hour: first (BST) occurrence
])
def test_pbx_local_time_becomes_utc(call_start, started_utc):
    line = f"{call_start},00:00:10,5,01707392200,I,4324,4324,,0,42,0,E4324,Joe,T9161,LINE 5.1,0,0".encode()
    [r] = smdr(tracker(), line)
    assert r.started_at == started_utc


def test_a_call_across_the_clocks_going_forward_lasts_what_it_lasted():
    # 00:59:30 GMT; one minute later the clocks read 02:00:30 BST, but only 70 s have passed.
    line = b"2024/03/31 00:59:30,00:01:00,10,01707392200,I,4324,4324,,0,43,0,E4324,Joe,T9161,LINE 5.1,0,0"
    [r] = smdr(tracker(), line)
    assert (r.started_at, r.answered_at, r.ended_at) == (
        "2024-03-31T00:59:30Z", "2024-03-31T00:59:40Z", "2024-03-31T01:00:40Z")


def test_restart_seeds_leg_numbers_from_the_store(tmp_path):
    before = tracker()
    [leg1] = smdr(before, LEG1)
    with Store(tmp_path, site_id=SITE) as store:
        store.add([leg1])
        open_legs = store.open_pbx_legs("pbx1", "")
    assert open_legs == {"1000014160": 1}
    after = tracker()                                    # the daemon restarted
    after.seed_open_legs("pbx1", open_legs)
    [leg2] = smdr(after, LEG2)
    assert (leg2.leg, leg2.final_leg) == (2, True)
    [again] = smdr(after, LEG2)
    assert again.leg == 1                                # that call is closed now


def test_open_legs_are_forgotten_after_a_day_without_their_last_leg():
    t = tracker(open_leg_ttl_s=3600)
    smdr(t, LEG1)
    t.tick(NOW + timedelta(minutes=59))
    assert smdr(t, LEG2)[0].leg == 2
    smdr(t, LEG1.replace(b"1000014160", b"1000099999"))
    t.tick(NOW + timedelta(hours=2))
    assert smdr(t, LEG2.replace(b"1000014160", b"1000099999"))[0].leg == 1


def test_an_unreadable_call_start_falls_back_to_arrival_minus_duration():
    t = tracker()
    rec = avaya_line(LOST)
    from dataclasses import replace
    [r] = t.handle(AVAYA, replace(rec, call_start="2008/13/45 99:99:99"), NOW)
    assert (r.started_at, r.ended_at) == ("2026-01-05T11:59:51Z", "2026-01-05T12:00:00Z")
    assert t.clock_fallbacks == 1


# ---- Panasonic SMDR ---------------------------------------------------------------------

def pana(dial: str, *, ext="201", ring=12, duration=65, date="05/01/26", time="10:03AM", raw=None):
    line = raw if raw is not None else f"{date} {time} {ext} 01 {dial} {ring} {duration}".encode()
    return PanasonicSmdrRecord(date=date, time=time, extension=ext, co="01", dial_number=dial, ring_s=ring,
                               duration_s=duration, raw=line)


PANA = DeviceInfo(name="kx1", kind="panasonic", queue="support", tz=LONDON,
                  to_leg=leg_reader(PanasonicOptions(date_order="DMY")))


def test_panasonic_time_is_the_end_of_the_call():
    [r] = tracker().handle(PANA, pana("<I>01707392200"), NOW)
    # 5 Jan 2026 10:03 London (GMT) is the END; ring 12 s + talk 65 s came before it.
    assert (r.started_at, r.answered_at, r.ended_at) == (
        "2026-01-05T10:01:43Z", "2026-01-05T10:01:55Z", "2026-01-05T10:03:00Z")
    assert (r.direction, r.disposition, r.caller, r.agent, r.ring_s, r.talk_s) == (
        "inbound", "answered", "01707392200", "201", 12, 65)
    assert (r.pbx_call_id, r.leg, r.source_kind) == ("", 0, "panasonic")


def test_panasonic_ddi_and_caller_name():
    [r] = tracker().handle(PANA, pana("<D>4300<I>JOHN DOE"), NOW)
    assert (r.direction, r.callee, r.caller, r.caller_name) == ("inbound", "4300", "", "JOHN DOE")


def test_panasonic_unanswered_incoming_is_abandoned():
    [r] = tracker().handle(PANA, pana("<I>01707392200", duration=0, ring=20), NOW)
    assert (r.disposition, r.agent, r.answered_at, r.ring_s) == ("abandoned", "", "", 20)


def test_panasonic_intercom_and_outgoing():
    t = tracker()
    [internal] = t.handle(PANA, pana("EXT1235", ring=None, duration=30), NOW)
    assert (internal.direction, internal.caller, internal.callee, internal.agent) == ("internal", "201", "1235", "201")
    [out] = t.handle(PANA, pana("901707392200", ring=None, duration=0), NOW)
    assert (out.direction, out.disposition, out.callee, out.dialled_number, out.agent) == (
        "outbound", "no_answer", "901707392200", "901707392200", "201")


def test_panasonic_keys_follow_the_raw_line():
    a, b = tracker(), tracker()
    assert a.handle(PANA, pana("<I>123"), NOW)[0].key == b.handle(PANA, pana("<I>123"), NOW)[0].key
    assert a.handle(PANA, pana("<I>123"), NOW)[0].key != a.handle(PANA, pana("<I>124"), NOW)[0].key


def test_panasonic_time_that_cannot_be_read_falls_back_to_arrival():
    t = tracker()
    [r] = t.handle(PANA, pana("<I>123", date="45/45/26", ring=0, duration=10), NOW)
    assert (r.started_at, r.ended_at) == ("2026-01-05T11:59:50Z", "2026-01-05T12:00:00Z")
    assert t.clock_fallbacks == 1
