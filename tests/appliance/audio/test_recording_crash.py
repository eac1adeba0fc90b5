"""A real kill -9 of a process recording mid-segment: what was fsynced is recoverable, nothing else pretends to be."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from recording_helpers import CHUNK_SIZE, age_decrypt, audio, keygen

from appliance.audio.segment_meta import inspect
from appliance.audio.segments import open_segments_after_crash, segment_name
from appliance.audio.tools import main as tools_main
from tests.helpers.waiting import wait_for

RATE, FRAME, SEGMENT_S = 8000, 4, 10.0
SEGMENT_BYTES = int(RATE * SEGMENT_S) * FRAME           # 320000 bytes of audio per segment
TOTAL_FRAMES = 60 * RATE

CHILD = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from recording_helpers import audio
from appliance.audio.segments import SegmentWriter
pcm = audio({frames}, seed=5)
writer = SegmentWriter(Path({rec!r}), "site-a/pbx1/crash", [{recipient!r}], {rate}, segment_s={segment_s})
mode, stop = sys.argv[1], int(sys.argv[2])
if mode == "paused":
    writer.write(pcm[:stop])
    print("ready", flush=True)
    sys.stdin.read()                       # hold everything open until killed
else:
    for i in range(0, len(pcm), 640):      # 20 ms blocks, paced like a capture device at ~10x real time
        writer.write(pcm[i:i + 640])
        time.sleep(0.002)
"""


def _record_and_kill(tmp_path: Path, mode: str, stop: int) -> tuple[Path, Path, bytes]:
    keys = keygen(tmp_path)
    rec = tmp_path / "rec"
    code = CHILD.format(tests=str(Path(__file__).parent), frames=TOTAL_FRAMES, rec=str(rec),
                        recipient=keys.recipient, rate=RATE, segment_s=SEGMENT_S)
    child = subprocess.Popen([sys.executable, "-c", code, mode, str(stop)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=Path(__file__).parents[3])
    try:
        if mode == "paused":
            assert child.stdout.readline() == b"ready\n"
        else:
            part = rec / (segment_name("site-a/pbx1/crash", 1) + ".part")
            wait_for(lambda: part.exists() and part.stat().st_size > stop, timeout=30,
                     message="the second segment to grow")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()
    return rec, keys.identity_file, audio(TOTAL_FRAMES, seed=5)


@pytest.mark.parametrize("mode, stop", [("paused", SEGMENT_BYTES + 250000), ("streaming", 150000)])
def test_kill_9_mid_segment_salvage_recovers_the_fsynced_chunks(tmp_path, mode, stop):
    rec, identity, pcm = _record_and_kill(tmp_path, mode, stop)
    closed = rec / segment_name("site-a/pbx1/crash", 0)
    cut = rec / (segment_name("site-a/pbx1/crash", 1) + ".part")
    assert sorted(p.name for p in rec.iterdir()) == sorted([closed.name, cut.name])

    info = inspect(cut)
    if mode == "paused":                 # 250000 bytes into segment 1: 3 sealed chunks, the rest in memory
        assert info.whole_chunks == 3
    assert not info.complete and info.whole_chunks >= 1
    durable = info.whole_chunks * CHUNK_SIZE

    # the daemon's restart path: what the crash left, as it is on disk
    [found] = open_segments_after_crash(rec)
    data = cut.read_bytes()
    assert (found.index, found.name, found.complete) == (1, cut.name, False)
    assert (found.bytes, found.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (found.first_sample, found.samples) == (SEGMENT_BYTES // FRAME, durable // FRAME)

    # the closed segment is whole; the cut one is refused by the stock tool and by decrypt
    assert age_decrypt(identity, closed.read_bytes()).stdout == pcm[:SEGMENT_BYTES]
    assert age_decrypt(identity, data).returncode != 0
    out = tmp_path / "call.wav"
    assert tools_main(["recording", "decrypt", "--identity", str(identity), str(closed), str(cut),
                       "--out", str(out)]) == 1
    assert not out.exists() and not list(tmp_path.glob(".call.wav*"))

    # salvage: exactly the audio up to the last fsynced chunk, marked truncated
    assert tools_main(["recording", "salvage", "--identity", str(identity), str(closed), str(cut),
                       "--out", str(out)]) == 0
    with wave.open(str(out)) as wav:
        recovered = wav.readframes(wav.getnframes())
    assert recovered == pcm[:SEGMENT_BYTES + durable]
    assert b"TRUNCATED recording of call site-a/pbx1/crash" in out.read_bytes()
