"""CallRecord <-> protobuf: nothing lost either way, and records that cannot be sent are named, not sent."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sync import convert
from appliance.calls.record import DIRECTIONS, DISPOSITIONS, FIELD_NAMES, CallRecord
from appliance.v1 import cdr_pb2, sync_pb2


def record(**fields) -> CallRecord:
    values = dict(key="site-a-1", site_id="site-a", source="pbx1", source_kind="avaya-ipo",
                  direction="inbound", caller="+15551234567", callee="201", dialled_number="5550100",
                  queue="sales", agent="201", started_at="2026-11-22T12:00:00Z",
                  answered_at="2026-11-22T12:00:05Z", ended_at="2026-11-22T12:03:00Z", ring_s=5,
                  talk_s=175, hold_s=3, disposition="answered", pbx_call_id="1000123", leg=2,
                  final_leg=False, caller_name="ACME Ltd", raw="2026/11/22 12:00:00,00:02:55,...",
                  recording_ref="rec/2026/11/22/abc.enc")
    values.update(fields)
    return CallRecord(**values)


def test_every_record_field_has_a_wire_field_of_the_same_name():
    assert set(FIELD_NAMES) == {f.name for f in cdr_pb2.CallRecord.DESCRIPTOR.fields}


def test_to_pb_keeps_every_field_and_numbers_unmasked():
    msg = convert.to_pb(record())
    assert msg.caller == "+15551234567"
    assert msg.direction == cdr_pb2.INBOUND
    assert msg.disposition == cdr_pb2.ANSWERED
    assert (msg.leg, msg.final_leg, msg.hold_s) == (2, False, 3)
    assert msg.recording_ref == "rec/2026/11/22/abc.enc"


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("disposition", DISPOSITIONS)
def test_every_direction_and_disposition_round_trips(direction, disposition):
    original = record(direction=direction, disposition=disposition)
    assert convert.from_pb(convert.to_pb(original)) == original


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
u32 = st.integers(min_value=0, max_value=2 ** 32 - 1)


@settings(max_examples=200, deadline=None)
@given(key=text, caller=text, raw=text, ring=u32, talk=u32, leg=u32, final=st.booleans(),
       direction=st.sampled_from(DIRECTIONS), disposition=st.sampled_from(DISPOSITIONS))
def test_any_valid_record_survives_the_wire(key, caller, raw, ring, talk, leg, final, direction,
                                            disposition):
    original = record(key=key, caller=caller, raw=raw, ring_s=ring, talk_s=talk, leg=leg,
                      final_leg=final, direction=direction, disposition=disposition)
    request, failed = convert.batch_request(7, [original])
    decoded = sync_pb2.SyncRequest.FromString(request.SerializeToString())
    assert failed == []
    assert decoded.batch.batch_id == 7
    assert [convert.from_pb(m) for m in decoded.batch.records] == [original]


@pytest.mark.parametrize("fields, complaint", [
    (dict(direction="sideways"), "unknown direction 'sideways'"),
    (dict(disposition="hung"), "unknown disposition 'hung'"),
    (dict(ring_s=-1), "out of range"),
    (dict(talk_s=2 ** 32), "out of range"),
    (dict(caller=15551234567), "wrong type"),
])
def test_unsendable_record_is_refused_with_its_key(fields, complaint):
    with pytest.raises(convert.ConversionError, match=complaint) as info:
        convert.to_pb(record(key="k-bad", **fields))
    assert info.value.key == "k-bad"


def test_batch_keeps_the_good_records_in_order_and_reports_the_bad_ones():
    records = [record(key="a"), record(key="b", ring_s=-5), record(key="c"),
               record(key="d", direction="?")]
    request, failed = convert.batch_request(3, records)
    assert [m.key for m in request.batch.records] == ["a", "c"]
    assert [exc.key for exc in failed] == ["b", "d"]


def test_hello_names_the_site_and_version():
    hello = sync_pb2.SyncRequest.FromString(convert.hello_request("site-a", "1.2.3").SerializeToString())
    assert hello.WhichOneof("body") == "hello"
    assert (hello.hello.site_id, hello.hello.appliance_version) == ("site-a", "1.2.3")


def test_from_pb_refuses_unspecified_enums():
    msg = convert.to_pb(record(key="k1"))
    msg.direction = cdr_pb2.DIRECTION_UNSPECIFIED
    with pytest.raises(convert.ConversionError, match="k1"):
        convert.from_pb(msg)


def _agent_and_recording_fields() -> dict:
    from appliance.calls.record import PciPause, Recording, RecordingSegment
    rec = Recording(status="truncated", reason="the site restarted during the call", sample_rate=8000,
                    samples=48_000, vad_mode=2, talk_over_s=0.5, trimmed_s=0.0,
                    segments=(RecordingSegment(0, "k.0.age", "ab" * 32, 1234, 0, 48_000, False),),
                    caller_speech_ratio=0.4, caller_speech=((800, 8000), (16000, 24000)),
                    agent_speech_ratio=0.3, agent_speech=((9000, 15000),),
                    pci_pauses=(PciPause(2.0, 4.5, "control:root", "headset:hs-anna",
                                         "2026-11-22T12:00:07Z", "2026-11-22T12:00:09Z"),))
    return dict(headset="hs-anna", agent_ring_s=3, mute_intervals=((1.5, 2.25), (10.0, 12.0)),
                muted_s=2.75, wrap_up_s=10, headset_lost=True, interrupted=True, recording=rec)


def test_agent_and_recording_fields_round_trip_through_the_wire():
    original = record(**_agent_and_recording_fields())
    back = convert.from_pb(cdr_pb2.CallRecord.FromString(convert.to_pb(original).SerializeToString()))
    assert back == original


def test_a_record_without_agent_or_audio_has_no_recording_on_the_wire():
    msg = convert.to_pb(record())
    assert not msg.HasField("recording")
    assert convert.from_pb(msg).recording is None
