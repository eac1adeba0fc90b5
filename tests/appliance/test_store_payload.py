"""Each record's wire bytes, encoded once by the store writer (schema 6), and acks as range deletes."""
from __future__ import annotations

import sqlite3

from appliance.calls.record import FIELD_NAMES
from appliance.store import DB_NAME, Store, StoreWriter
from appliance.store.records import id_runs
from appliance.store.schema import SCHEMA_VERSION, migrate
from appliance.sync import convert
from appliance.v1 import cdr_pb2, sync_pb2
from tests.appliance.test_store import SITE, rec


def test_the_writer_stores_each_record_with_its_wire_bytes(tmp_path):
    records = [rec(1, pbx_call_id="1000014160", leg=2, final_leg=False, caller_name="Zoë", raw="2008/06/28 …"),
               rec(2, mute_intervals=((1.5, 2.0),), muted_s=0.5, headset="hs1")]
    with StoreWriter(lambda: Store(tmp_path, site_id=SITE), serialize=convert.record_bytes) as writer:
        writer.submit(records)
        assert writer.flush(10)
    with Store(tmp_path, site_id=SITE) as store:
        rows = store.pending_payloads()
        assert [key for _, key, _ in rows] == [r.key for r in records]
        for (_, _, payload), record in zip(rows, records):
            # every field is in the bytes, and the columns still hold the record as before
            assert convert.from_pb(cdr_pb2.CallRecord.FromString(payload)) == record
        assert [r for _, r in store.pending()] == records


def test_a_record_that_cannot_be_encoded_is_stored_without_bytes(tmp_path):
    with Store(tmp_path, site_id=SITE) as store:
        result = store.add([rec(1), rec(2, direction="sideways")], serialize=convert.record_bytes)
        assert len(result.inserted) == 2
        payloads = [payload for _, _, payload in store.pending_payloads()]
    assert payloads[0] is not None and payloads[1] is None


def test_rows_stored_before_the_payload_column_have_no_bytes_and_new_rows_do(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    migrate(conn, upto=7)                       # schema 8 adds cdr.payload
    cols = ", ".join(FIELD_NAMES)
    old = rec(1)
    conn.execute(f"INSERT INTO cdr ({cols}, stored_at) VALUES ({', '.join('?' * len(FIELD_NAMES))}, 0)",
                 [getattr(old, f) if f not in ("mute_intervals", "recording") else "" for f in FIELD_NAMES])
    conn.execute("INSERT INTO outbox (cdr_id) SELECT id FROM cdr")
    conn.close()
    with Store(tmp_path, site_id=SITE) as store:
        assert store.schema_version == SCHEMA_VERSION >= 8
        store.add([rec(2)], serialize=convert.record_bytes)
        (_, key1, bytes1), (_, key2, bytes2) = store.pending_payloads()
    assert (key1, bytes1) == (old.key, None)
    assert (key2, bytes2) == (rec(2).key, convert.record_bytes(rec(2)))


def test_delivered_ids_are_deleted_exactly_even_when_not_consecutive(tmp_path):
    with Store(tmp_path, site_id=SITE) as store:
        ids = store.add([rec(i) for i in range(10)]).inserted
        acked = [ids[i] for i in (7, 0, 1, 2, 4, 6, 2)]            # unordered, one repeated
        assert store.mark_delivered(acked) == 6
        assert store.mark_delivered(acked) == 0                    # a repeated ack is harmless
        assert [i for i, _ in store.pending()] == [ids[i] for i in (3, 5, 8, 9)]


def test_id_runs():
    assert id_runs([]) == []
    assert id_runs([5, 1, 2, 3, 3, 7, 8]) == [(1, 3), (5, 5), (7, 8)]


def test_a_batch_built_from_stored_bytes_is_what_the_encoder_writes():
    records = [rec(i, raw="x" * (60 * i)) for i in range(40)]      # record lengths across 1- and 2-byte varints
    for batch_id in (0, 1, 300, 2**40):
        built = convert.batch_bytes(batch_id, [convert.record_bytes(r) for r in records])
        request, failed = convert.batch_request(batch_id, records)
        assert not failed
        assert built == request.SerializeToString()
        parsed = sync_pb2.SyncRequest.FromString(built)
        assert [convert.from_pb(m) for m in parsed.batch.records] == records
    big = rec(1, raw="y" * 5000)                                   # past the table of length prefixes
    assert sync_pb2.SyncRequest.FromString(convert.batch_bytes(9, [convert.record_bytes(big)])).batch.records[0].raw \
        == big.raw


def test_records_with_and_without_agent_fields_are_stored_in_order_whatever_the_batch_size(tmp_path):
    import dataclasses

    from tests.appliance.test_convert import _agent_and_recording_fields
    extras = _agent_and_recording_fields()
    records = [dataclasses.replace(rec(i), **extras) if i % 50 in (7, 8, 30) else rec(i, final_leg=i % 3 != 0)
               for i in range(373)]
    records.append(rec(1000, headset_lost=True))          # one extra field is enough to take every column
    with Store(tmp_path, site_id=SITE) as store:
        first = store.add(records[:300], serialize=convert.record_bytes)
        second = store.add(records[250:], serialize=convert.record_bytes)       # 50 known, 74 new
        third = store.add([rec(2000), rec(2001, interrupted=True)])              # without wire bytes
        assert (len(first.inserted), len(second.inserted), second.duplicates, len(third.inserted)) == (300, 74, 50, 2)
        assert first.inserted + second.inserted + third.inserted == list(range(1, 377))
        assert [r for _, r in store.pending(limit=1000)] == records + [rec(2000), rec(2001, interrupted=True)]
        rows = store.pending_payloads(limit=1000)
        assert [payload for _, _, payload in rows] == [convert.record_bytes(r) for r in records] + [None, None]
