"""Disk policy and a disk that really fills up, on a small real tmpfs (the tests run as root)."""
from __future__ import annotations

import pytest
from recording_helpers import age_decrypt, audio, keygen

from appliance.audio.segment_meta import inspect
from appliance.audio.segments import RecordingFailed, SegmentWriter
from appliance.audio.space import MB, RecordingSpace

RATE = 8000


def test_refuses_below_the_reserve_and_accepts_again_when_space_returns(tmpfs):
    space = RecordingSpace(tmpfs / "recordings", quota_mb=100, reserve_mb=0.5)
    assert space.can_start() == (True, "ok")
    store = tmpfs / "outbox.sqlite"                      # call records fill the disk, not recordings
    store.write_bytes(b"\0" * int(1.7 * MB))
    ok, reason = space.can_start()
    assert not ok and "disk space low" in reason and "reserved for call records" in reason
    assert store.stat().st_size == int(1.7 * MB)          # nothing was deleted to make room
    store.unlink()
    assert space.can_start() == (True, "ok")


def test_refuses_past_the_quota_counting_only_recordings(tmpfs):
    recordings = tmpfs / "recordings"
    (recordings / "call-1").mkdir(parents=True)
    space = RecordingSpace(recordings, quota_mb=1, reserve_mb=0)
    (recordings / "call-1" / "a.age").write_bytes(b"\1" * int(0.6 * MB))
    assert space.usage().used_bytes == int(0.6 * MB)
    assert space.can_start() == (True, "ok")
    ok, reason = space.can_start(needed_bytes=int(0.5 * MB))          # the next call's first segment
    assert not ok and "quota reached" in reason
    (recordings / "call-1" / "b.age").write_bytes(b"\1" * int(0.5 * MB))
    assert not space.can_start()[0]
    (recordings / "call-1" / "a.age").unlink()                         # uploaded and removed elsewhere
    assert space.can_start() == (True, "ok")
    assert list((recordings / "call-1").iterdir()) == [recordings / "call-1" / "b.age"]


def test_disk_full_mid_call_raises_recording_failed_and_keeps_what_was_closed(tmp_path, tmpfs):
    keys = keygen(tmp_path)
    pcm = audio(120 * RATE, seed=8)                                      # 3.84 MB: more than the disk holds
    writer = SegmentWriter(tmpfs / "rec", "call-full", [keys.recipient], RATE, segment_s=5.0)
    with pytest.raises(RecordingFailed, match="No space left on device") as failure:
        for i in range(0, len(pcm), 3200):
            writer.write(pcm[i:i + 3200])
    segments = failure.value.segments
    closed, cut = segments[:-1], segments[-1]
    assert closed and all(s.complete for s in closed) and not cut.complete
    for seg in closed:                                                   # what was closed is intact
        start = seg.first_sample * 4
        out = age_decrypt(keys.identity_file, (tmpfs / "rec" / seg.name).read_bytes())
        assert out.stdout == pcm[start:start + seg.samples * 4], out.stderr
    assert cut.name.endswith(".part") and cut.first_sample == closed[-1].first_sample + closed[-1].samples
    assert cut.bytes == (tmpfs / "rec" / cut.name).stat().st_size
    assert cut.samples == inspect(tmpfs / "rec" / cut.name).recoverable_samples
    with pytest.raises(RecordingFailed):                                 # the call goes on unrecorded
        writer.write(pcm[:3200])
    assert writer.close() == segments
    assert not RecordingSpace(tmpfs / "rec", quota_mb=100, reserve_mb=0.1).can_start()[0]
