"""Recording encryption + write throughput for an 8 kHz two-channel stream, as × real time per core."""
from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

from appliance.audio.age import AgeWriter, Identity
from appliance.audio.segments import SegmentWriter

RATE, FRAME, BLOCK_MS = 8000, 4, 20


def run(label: str, seconds: float, sink) -> None:
    block = os.urandom(RATE * FRAME * BLOCK_MS // 1000)          # one 20 ms capture period
    blocks = int(seconds * 1000 / BLOCK_MS)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(blocks):
        sink.write(block)
    sink.close()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    audio_s = blocks * BLOCK_MS / 1000
    mb = blocks * len(block) / 1e6
    print(f"{label:<44} {audio_s:>7.0f} s audio  {mb:7.1f} MB  wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
          f"{audio_s / max(cpu, 1e-9):>9.0f}x real time per core  ({audio_s / max(wall, 1e-9):.0f}x wall)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3600.0, help="audio to write per run (default 1 h)")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir on the data disk)")
    args = parser.parse_args()
    recipient = str(Identity.generate().recipient)
    print(f"8 kHz stereo S16LE = {RATE * FRAME} B/s, written in {BLOCK_MS} ms blocks; "
          f"segments of 300 s; each sealed 64 KiB chunk fsynced unless noted")
    run("age payload only (to memory)", args.seconds,
        AgeWriter(io.BytesIO(), [Identity.generate().recipient], fsync=False))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        run("SegmentWriter, fsync per chunk", args.seconds,
            SegmentWriter(Path(tmp) / "a", "bench/call/1", [recipient], RATE))
        run("SegmentWriter, no fsync", args.seconds,
            SegmentWriter(Path(tmp) / "b", "bench/call/2", [recipient], RATE, fsync=False))
        run("SegmentWriter, 2 recipients, fsync per chunk", args.seconds,
            SegmentWriter(Path(tmp) / "c", "bench/call/3", [recipient, str(Identity.generate().recipient)], RATE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
