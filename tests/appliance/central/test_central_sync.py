"""The Sync stream against a real mTLS central on each backend: ack statuses, order, durability at ack time, rules."""
from __future__ import annotations

import grpc
import pytest

from appliance.v1 import cdr_pb2, sync_pb2, sync_pb2_grpc
from tests.helpers.central_proc import CentralProcess, SyncStream, make_record

STORED, DUPLICATE, REJECTED = sync_pb2.STORED, sync_pb2.DUPLICATE, sync_pb2.REJECTED


def test_new_records_are_stored_and_a_resend_is_duplicate(central, key_prefix):
    records = [make_record(f"{key_prefix}{i}") for i in range(5)]
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        first = stream.batch(7, records)
        again = stream.batch(8, records[:3] + [make_record(f"{key_prefix}new")])

    assert first.batch_id == 7
    assert [(a.key, a.status) for a in first.acks] == [(r.key, STORED) for r in records]
    assert again.batch_id == 8
    assert [a.status for a in again.acks] == [DUPLICATE, DUPLICATE, DUPLICATE, STORED]


def test_each_ack_means_the_record_is_already_in_the_db_file(central, key_prefix):
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        for batch_id in range(3):
            keys = [f"{key_prefix}{batch_id}:{i}" for i in range(50)]
            response = stream.batch(batch_id, [make_record(k) for k in keys])
            assert {a.key for a in response.acks if a.status == STORED} == set(keys)
            assert set(keys) <= central.stored_keys()


def test_invalid_records_are_rejected_with_a_reason_and_the_rest_of_the_batch_is_stored(central, key_prefix):
    p = key_prefix
    records = [
        make_record(f"{p}good1"),
        make_record(""),
        make_record(f"{p}other-site", site_id="site-b"),
        make_record(f"{p}no-site", site_id=""),
        make_record(f"{p}bad-direction", direction=cdr_pb2.DIRECTION_UNSPECIFIED),
        make_record(f"{p}bad-disposition", disposition=99),
        make_record(f"{p}bad-time", started_at="22/11/2026 12:00"),
        make_record(f"{p}bad-end", ended_at="yesterday"),
        make_record(f"{p}" + "k" * 300),
        make_record(f"{p}good2"),
    ]
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        response = stream.batch(1, records)

    assert [a.key for a in response.acks] == [r.key for r in records], "one ack per record, in order"
    outcome = [(a.status, a.reason) for a in response.acks]
    assert outcome[0] == (STORED, "")
    assert outcome[9] == (STORED, "")
    assert outcome[1] == (REJECTED, "empty key")
    assert outcome[2] == (REJECTED, "site_id mismatch")
    assert outcome[3] == (REJECTED, "empty site_id")
    for status, reason in outcome[4:9]:
        assert status == REJECTED and reason
    assert "direction" in outcome[4][1]
    assert "disposition" in outcome[5][1]
    assert "started_at" in outcome[6][1]
    assert "ended_at" in outcome[7][1]
    assert "key longer" in outcome[8][1]
    assert central.stored_keys() >= {f"{p}good1", f"{p}good2"}
    assert not central.stored_keys() & {f"{p}other-site", f"{p}bad-time"}


def test_a_key_repeated_inside_one_batch_is_stored_once(central, key_prefix):
    record = make_record(f"{key_prefix}twice")
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        response = stream.batch(1, [record, record])
    assert [a.status for a in response.acks] == [STORED, DUPLICATE]


def test_an_empty_batch_gets_an_empty_response(central):
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        response = stream.batch(42, [])
    assert response.batch_id == 42 and list(response.acks) == []


def test_the_stored_payload_is_the_whole_record_unmasked(central, key_prefix):
    record = make_record(f"{key_prefix}whole", caller="+442071234567", raw="raw,smdr,line", recording_ref="rec/1.enc")
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        stream.batch(1, [record])
    assert cdr_pb2.CallRecord.FromString(central.stored_payload(record.key)) == record


def test_a_stream_must_start_with_hello(central, key_prefix):
    with central.channel("site-a") as channel, SyncStream(channel, None) as stream:
        stream.send_batch(1, [make_record(f"{key_prefix}early")])
        with pytest.raises(grpc.RpcError) as err:
            stream.receive()
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Hello" in err.value.details()
    assert f"{key_prefix}early" not in central.stored_keys()


def test_a_second_hello_is_a_protocol_error(central):
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        stream.send(sync_pb2.SyncRequest(hello=sync_pb2.Hello(site_id="site-a")))
        with pytest.raises(grpc.RpcError) as err:
            stream.receive()
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_an_empty_hello_site_is_refused(central):
    with central.channel("site-a") as channel, SyncStream(channel, "") as stream:
        with pytest.raises(grpc.RpcError) as err:
            stream.batch(1, [])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_reports_serving_for_the_server_and_every_service(central):
    for service in ("", "appliance.v1.CdrSync", "appliance.v1.LiveEvents", "appliance.v1.Recordings"):
        assert central.health(service) == "SERVING", service


def test_self_test_reports_are_stored_once_per_run_id(central):
    report = sync_pb2.SelfTestReport(site_id="site-a", run_id="run-1", started_at="2026-11-22T12:00:00Z",
                                     verdict=sync_pb2.WARN, appliance_version="0.1.0",
                                     checks=[sync_pb2.CheckResult(name="pbx1", status=sync_pb2.WARN, detail="slow")])
    with central.channel("site-a") as channel:
        stub = sync_pb2_grpc.CdrSyncStub(channel)
        first = stub.ReportSelfTest(report, timeout=10)
        second = stub.ReportSelfTest(report, timeout=10)
        no_run_id = stub.ReportSelfTest(sync_pb2.SelfTestReport(site_id="site-a"), timeout=10)
    assert (first.status, second.status) == (STORED, DUPLICATE)
    assert no_run_id.status == REJECTED and "run_id" in no_run_id.reason
    with central.open_store() as store:
        (stored,) = [s for s in store.selftests("site-a") if s.run_id == "run-1"]
    assert sync_pb2.SelfTestReport.FromString(stored.payload) == report


def test_policy_option_rejects_matching_keys_for_tests_and_demos(pki, tmp_path):
    with CentralProcess(tmp_path / "c.db", pki=pki, extra_args=("--reject-keys-matching", "poison")) as proc, \
            proc.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        response = stream.batch(1, [make_record("ok-1"), make_record("poison-2"), make_record("ok-3")])
    assert [(a.status, a.reason) for a in response.acks] == [
        (STORED, ""), (REJECTED, "rejected by policy"), (STORED, "")]
    assert proc.stored_keys() == {"ok-1", "ok-3"}


def test_fields_from_a_newer_v1_are_kept_in_the_stored_record(central, key_prefix):
    """A site newer than the central may send fields this central does not know; they must not be lost."""
    unknown_field_99 = bytes([0x9A, 0x06, 5]) + b"later"     # tag varint(99 << 3 | 2), length 5, "later"
    record = cdr_pb2.CallRecord.FromString(make_record(f"{key_prefix}newer").SerializeToString() + unknown_field_99)
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        assert stream.batch(1, [record]).acks[0].status == STORED
    payload = central.stored_payload(record.key)
    assert payload.endswith(unknown_field_99)
    assert payload == record.SerializeToString(), "stored exactly as sent"
