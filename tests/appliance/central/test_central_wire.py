"""The central's wire shortcuts agree with protobuf itself: record slices, hand-built acks, batch validation."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from appliance.central.validate import CentralPolicy, validate_batch, validate_record
from appliance.central.wire import WireError, acks_response_bytes, batch_record_bytes
from appliance.v1 import cdr_pb2, sync_pb2
from tests.helpers.central_proc import make_record

keys = st.text(min_size=0, max_size=300)
times = st.sampled_from(["2026-11-22T12:00:00Z", "2026-11-22T12:00:00.123+01:00", "", "yesterday",
                         "2026-11-22T12:00:00Z\n2026-11-22T12:00:00Z", "2026-11-22 12:00:00",
                         "\uff12026-11-22T12:00:00Z", "2026-11-22T12:00:00.1234567890Z", "2026-11-22T12:00:00z"])


@st.composite
def records(draw) -> cdr_pb2.CallRecord:
    return make_record(draw(keys), site_id=draw(st.sampled_from(["site-a", "site-b", ""])),
                       direction=draw(st.integers(0, 4)), disposition=draw(st.integers(0, 6)),
                       started_at=draw(times), answered_at=draw(times), ended_at=draw(times),
                       raw=draw(st.text(max_size=400)))


@settings(max_examples=150, deadline=None)
@given(st.lists(records(), max_size=20), st.integers(0, 2**64 - 1))
def test_slices_are_each_records_own_bytes(batch, batch_id):
    raw = sync_pb2.SyncRequest(batch=sync_pb2.CdrBatch(batch_id=batch_id, records=batch)).SerializeToString()
    assert batch_record_bytes(raw) == [r.SerializeToString() for r in batch]


def test_unusual_layouts_are_sliced_as_protobuf_reads_them():
    one, two, three = (make_record(f"k{i}").SerializeToString() for i in range(3))
    field = lambda number, data: bytes([number << 3 | 2]) + _varint(len(data)) + data      # noqa: E731
    records_first = field(2, one) + b"\x08\x07" + field(2, two)                    # batch_id between records
    unknown = field(2, three) + bytes([0x9A, 0x06, 2]) + b"zz"                    # unknown field 99 in the batch
    raw = field(2, records_first) + field(2, unknown)                             # the batch field twice: merged
    parsed = sync_pb2.SyncRequest.FromString(raw)
    assert [r.key for r in parsed.batch.records] == ["k0", "k1", "k2"]
    assert batch_record_bytes(raw) == [one, two, three]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def test_truncated_bytes_are_an_error_not_a_guess():
    raw = sync_pb2.SyncRequest(batch=sync_pb2.CdrBatch(records=[make_record("k")])).SerializeToString()
    with pytest.raises(WireError):
        batch_record_bytes(raw[:-5])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(keys, st.booleans()), max_size=30), st.integers(0, 2**64 - 1))
def test_hand_built_acks_equal_protobufs(acks, batch_id):
    expected = sync_pb2.SyncResponse(batch_id=batch_id, acks=[
        sync_pb2.RecordAck(key=key, status=sync_pb2.STORED if new else sync_pb2.DUPLICATE) for key, new in acks])
    built = acks_response_bytes(batch_id, [k for k, _ in acks], [n for _, n in acks])
    assert built == expected.SerializeToString()


@settings(max_examples=200, deadline=None)
@given(st.lists(records(), min_size=1, max_size=12))
def test_the_whole_batch_check_agrees_with_the_per_record_answer(batch):
    verdict = validate_batch(batch, "site-a", CentralPolicy())
    reasons = [validate_record(r, "site-a", CentralPolicy()) for r in batch]
    if verdict.reasons is None:
        assert reasons == [""] * len(batch)
    else:
        assert verdict.reasons == reasons
    assert list(verdict.keys) == [r.key for r in batch]
