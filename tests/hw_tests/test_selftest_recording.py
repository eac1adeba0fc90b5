"""The `recording` self-test: fail closed without a recipient, refuse past the quota, name what waits to go."""
from __future__ import annotations

import os
import time

from appliance.audio.age_keys import Identity
from appliance.audio.settings import RecordingConfig
from hw_tests.checks_recording import check_recording
from hw_tests.result import Status


def recipient() -> str:
    return str(Identity.generate().recipient)


def test_no_recipient_is_a_fail_that_says_calls_are_not_recorded(tmp_path):
    result = check_recording(RecordingConfig(), str(tmp_path))
    assert result.status is Status.FAIL and "NOT recorded" in result.detail and "keys generate" in result.hint


def test_a_malformed_recipient_is_a_fail(tmp_path):
    result = check_recording(RecordingConfig(recipients=("age1notakey",)), str(tmp_path))
    assert result.status is Status.FAIL and "invalid recipient" in result.detail


def test_a_valid_recipient_with_room_passes_and_counts_waiting_segments(tmp_path):
    rec = tmp_path / "recordings"
    rec.mkdir()
    old = rec / "k-1.0000.age"
    old.write_bytes(b"x" * 10)
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    result = check_recording(RecordingConfig(recipients=(recipient(),), reserve_mb=0), str(tmp_path))
    assert result.status is Status.WARN and "1 segment(s) not yet uploaded" in result.detail


def test_a_full_quota_refuses_new_recordings(tmp_path):
    rec = tmp_path / "recordings"
    rec.mkdir()
    (rec / "k-1.0000.age").write_bytes(b"x" * (2 * 1024 * 1024))
    result = check_recording(RecordingConfig(recipients=(recipient(),), quota_mb=1, reserve_mb=0), str(tmp_path))
    assert result.status is Status.FAIL and "refused" in result.detail


def test_recipients_from_a_file(tmp_path):
    path = tmp_path / "recipients.txt"
    path.write_text(f"# the central\n{recipient()}\n")
    result = check_recording(RecordingConfig(recipients_file=str(path), reserve_mb=0), str(tmp_path))
    assert result.status is Status.PASS, result


def test_segments_the_central_has_are_not_counted_as_waiting(tmp_path):
    from appliance.calls.record import Recording, RecordingSegment
    from appliance.store import Store
    from appliance.store.uploads import UPLOADED, UploadLedger
    from tests.helpers.sync_harness import SITE, call_record
    segments = tuple(RecordingSegment(n, f"call.{n:04d}.age", "00" * 32, 10, 8000 * n, 8000) for n in range(2))
    with Store(tmp_path, site_id=SITE) as store:
        (cdr_id,) = store.add([call_record(0, key="call", recording=Recording(
            status="recorded", sample_rate=8000, samples=16000, segments=segments))]).inserted
        UploadLedger(store).settle([(cdr_id, 0, UPLOADED, "")], time.time())     # the central has segment 0
    rec = tmp_path / "recordings"
    rec.mkdir()
    for seg in segments:
        (rec / seg.name).write_bytes(b"x" * 10)
    cfg = RecordingConfig(recipients=(recipient(),), reserve_mb=0, keep_after_upload_s=3600)
    result = check_recording(cfg, str(tmp_path))
    assert "1 segment(s) not yet uploaded" in result.detail          # segment 1 only
    assert "1 segment(s) uploaded, local copy kept" in result.detail
