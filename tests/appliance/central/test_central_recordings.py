"""Recording uploads on each backend: resumable from the durable offset, verified against the call record, safe names."""
from __future__ import annotations

import hashlib
import os

import grpc
import pytest

from appliance.v1 import cdr_pb2, recordings_pb2, recordings_pb2_grpc
from tests.appliance.central.test_central_cli import dump
from tests.helpers.central_proc import CentralProcess, QueuedStream, SyncStream, make_record

CONTINUE, COMPLETE = recordings_pb2.UPLOAD_CONTINUE, recordings_pb2.UPLOAD_COMPLETE
REJECTED, RETRY_LATER = recordings_pb2.UPLOAD_REJECTED, recordings_pb2.UPLOAD_RETRY_LATER
CHUNK = 64 * 1024


class Upload(QueuedStream):
    """One Upload stream: offer, then chunks; each answer read on demand."""

    def __init__(self, channel: grpc.Channel, offer: recordings_pb2.UploadOffer):
        super().__init__(recordings_pb2.UploadRequest(offer=offer))
        self._call = recordings_pb2_grpc.RecordingsStub(channel).Upload(self.requests(), timeout=30)

    def answer(self) -> recordings_pb2.UploadResponse:
        return self.receive()

    def chunk(self, offset: int, data: bytes) -> recordings_pb2.UploadResponse:
        self.send(recordings_pb2.UploadRequest(chunk=recordings_pb2.UploadChunk(offset=offset, data=data)))
        return self.answer()

    def send_from(self, offset: int, data: bytes, until: int | None = None) -> recordings_pb2.UploadResponse:
        """Chunks from offset up to `until` (default: the end); the last answer."""
        end = len(data) if until is None else until
        answer = None
        while offset < end:
            answer = self.chunk(offset, data[offset:min(end, offset + CHUNK)])
            assert answer.status in (CONTINUE, COMPLETE), answer
            offset = answer.offset
        return answer


def recording_record(key: str, data: bytes, name: str = "seg-0.age", **fields) -> cdr_pb2.CallRecord:
    segment = cdr_pb2.RecordingSegment(index=0, name=name, sha256=hashlib.sha256(data).hexdigest(),
                                       bytes=len(data), samples=8000, complete=True)
    return make_record(key, recording=cdr_pb2.Recording(status=cdr_pb2.RECORDED, sample_rate=8000,
                                                        segments=[segment]), **fields)


def offer_for(record: cdr_pb2.CallRecord, index: int = 0) -> recordings_pb2.UploadOffer:
    segment = record.recording.segments[index]
    return recordings_pb2.UploadOffer(site_id=record.site_id, call_key=record.key, index=segment.index,
                                      name=segment.name, size=segment.bytes, sha256=segment.sha256)


def deliver(central: CentralProcess, *records: cdr_pb2.CallRecord) -> None:
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        assert {a.status for a in stream.batch(1, list(records)).acks} <= {1, 2}


def recordings_dir(central: CentralProcess):
    return central.db_path.parent / "recordings"


def stored_files(central: CentralProcess) -> list:
    return sorted(p for p in recordings_dir(central).rglob("*") if p.is_file())


def test_a_segment_is_uploaded_verified_and_its_metadata_stored(central, key_prefix):
    data = os.urandom(300_000)
    record = recording_record(f"{key_prefix}call", data)
    deliver(central, record)
    with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as upload:
        first = upload.answer()
        assert (first.status, first.offset) == (CONTINUE, 0)
        last = upload.send_from(0, data)
    assert (last.status, last.offset) == (COMPLETE, len(data))
    (row,) = [r for r in dump(central, "--recordings") if r["callKey"] == record.key]
    path = recordings_dir(central) / row["path"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"] == record.recording.segments[0].sha256
    assert (row["siteId"], row["index"], row["name"], row["size"]) == ("site-a", 0, "seg-0.age", len(data))
    assert not list(path.parent.glob("*.part"))
    with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as again:
        answer = again.answer()
        assert (answer.status, answer.offset) == (COMPLETE, len(data)), "a stored segment is answered at once"


def test_an_interrupted_upload_resumes_from_the_durable_offset(central, key_prefix):
    data = os.urandom(5 * CHUNK + 123)
    record = recording_record(f"{key_prefix}resume", data)
    deliver(central, record)
    with central.channel("site-a") as channel:
        with Upload(channel, offer_for(record)) as upload:
            assert upload.answer().offset == 0
            acked = upload.send_from(0, data, until=2 * CHUNK).offset
        with Upload(channel, offer_for(record)) as upload:
            resumed = upload.answer()
            assert (resumed.status, resumed.offset) == (CONTINUE, acked)
            assert upload.send_from(resumed.offset, data).status == COMPLETE
    (path,) = [p for p in stored_files(central) if p.name == "seg-0.age" and "resume" in str(p)]
    assert path.read_bytes() == data


def test_a_hash_mismatch_is_rejected_and_the_partial_file_removed(central, key_prefix):
    data = os.urandom(3 * CHUNK)
    record = recording_record(f"{key_prefix}tampered", data)
    deliver(central, record)
    tampered = bytes([data[0] ^ 1]) + data[1:]
    with central.channel("site-a") as channel:
        with Upload(channel, offer_for(record)) as upload:
            upload.answer()
            last = upload.send_from(0, tampered, until=len(data) - 1)
            final = upload.chunk(last.offset, tampered[last.offset:])
        assert final.status == REJECTED and "sha256 mismatch" in final.reason
        assert not [p for p in stored_files(central) if "tampered" in str(p)], "the partial file is removed"
        with Upload(channel, offer_for(record)) as upload:
            again = upload.answer()
            assert (again.status, again.offset) == (CONTINUE, 0), "a new offer starts from the beginning"


def test_an_offer_before_its_call_record_is_told_to_retry_later(central, key_prefix):
    record = recording_record(f"{key_prefix}not-yet", b"x" * 100)
    with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as upload:
        answer = upload.answer()
    assert answer.status == RETRY_LATER and "not arrived" in answer.reason


def test_an_offer_that_does_not_match_its_record_is_rejected(central, key_prefix):
    record = recording_record(f"{key_prefix}mismatch", b"y" * 100)
    deliver(central, record)
    offers = [offer_for(record), offer_for(record), offer_for(record)]
    offers[0].size = 99
    offers[1].sha256 = "0" * 64
    offers[2].index = 7
    with central.channel("site-a") as channel:
        reasons = []
        for offer in offers:
            with Upload(channel, offer) as upload:
                answer = upload.answer()
            assert answer.status == REJECTED
            reasons.append(answer.reason)
    assert "size" in reasons[0] and "sha256" in reasons[1] and "no segment 7" in reasons[2]


@pytest.mark.parametrize("name", ["../../../etc/passwd", "a/b.age", ".hidden", "seg.age.part", ""])
def test_unsafe_segment_names_are_refused(central, key_prefix, name):
    record = recording_record(f"{key_prefix}unsafe", b"z" * 10, name=name)
    deliver(central, record)
    with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as upload:
        answer = upload.answer()
    assert answer.status == REJECTED and "unsafe segment name" in answer.reason
    assert not [p for p in stored_files(central) if "unsafe" in str(p)]


def test_a_call_key_cannot_lead_out_of_the_recordings_directory(central):
    data = b"k" * 1000
    record = recording_record("../../../../tmp/escape/..", data)
    deliver(central, record)
    with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as upload:
        upload.answer()
        assert upload.send_from(0, data).status == COMPLETE
    (path,) = [p for p in stored_files(central) if "escape" in str(p)]
    base = recordings_dir(central).resolve()
    assert base in path.resolve().parents and path.read_bytes() == data
    assert path.parent.parent == base / "site-a"


def test_kill_9_mid_segment_resumes_where_the_central_had_made_it_durable(pki, tmp_path):
    data = os.urandom(8 * CHUNK + 7)
    record = recording_record("killed-upload", data)
    with CentralProcess(tmp_path / "c.db", pki=pki) as central:
        deliver(central, record)
        with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as upload:
            upload.answer()
            acked = upload.send_from(0, data, until=5 * CHUNK).offset
            central.kill9()
            with pytest.raises(grpc.RpcError):
                upload.chunk(acked, data[acked:acked + CHUNK])
        central.start()
        with central.channel("site-a") as channel, Upload(channel, offer_for(record)) as upload:
            resumed = upload.answer()
            assert resumed.status == CONTINUE and resumed.offset >= acked, "nothing acknowledged is lost"
            assert upload.send_from(resumed.offset, data).status == COMPLETE
        (path,) = stored_files(central)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.recording.segments[0].sha256
