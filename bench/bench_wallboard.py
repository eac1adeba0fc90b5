"""Benchmark (not a test): a queue figure changes -> the last byte of the sign's update is in the pty.

Runs the real presenter, codec and driver against a pty (the far end read directly, no emulator in
the timed path), one queue change at a time, and reports the latency from `on_figures()` to the
last byte readable at the far end. What a real line adds is computed separately: the bytes on the
wire at the configured baud rate (start + data + parity + stop bits per byte).

    python bench/bench_wallboard.py [--n 2000] [--baudrate 9600]
"""
from __future__ import annotations

import argparse
import os
import select
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.wallboard.output import WallboardOutput  # noqa: E402
from appliance.wallboard.presenter import SignPresenter  # noqa: E402
from firmware_bridge.pty import EmulatedPort  # noqa: E402
from firmware_bridge.wallboard.driver import WallboardDriver  # noqa: E402
from firmware_bridge.wallboard.settings import WallboardSettings  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def read_exactly(fd: int, count: int) -> None:
    got = 0
    while got < count:
        select.select([fd], [], [], 1.0)
        try:
            got += len(os.read(fd, 65536))
        except BlockingIOError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--baudrate", type=int, default=9600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmulatedPort(os.path.join(tmp, "wb")) as port:
        settings = WallboardSettings(name="bench", port=port.path, address="01", baudrate=args.baudrate,
                                     queues=("sales", "support"))
        clock = [0.0]
        driver = WallboardDriver.from_settings(settings)
        driver.open()
        out = WallboardOutput(SignPresenter(settings, clock=lambda: clock[0]), driver)
        setup = sum(len(w.packet) for w in out.tick())
        read_exactly(port.master_fd, setup)
        one, two = [], []            # one value changed / two values changed (waiting + longest wait)
        sizes = {1: 0, 2: 0}
        for i in range(args.n):
            clock[0] += settings.min_interval_s
            figures = {"waiting": i % 50, "longest_wait": 30 + i % 7 if i % 2 else 30}
            start = time.perf_counter()
            writes = out.on_figures({"sales": figures})
            read_exactly(port.master_fd, sum(len(w.packet) for w in writes))
            elapsed = time.perf_counter() - start
            (one if len(writes) == 1 else two).append(elapsed)
            sizes[min(len(writes), 2)] = sum(len(w.packet) for w in writes)
        driver.close()
    bits = 1 + settings.bytesize + (settings.parity != "N") + settings.stopbits
    print(f"setup burst: {setup} bytes = {setup * bits / args.baudrate * 1000:.0f} ms on the wire "
          f"at {args.baudrate} {settings.bytesize}{settings.parity}{settings.stopbits:g}")
    for label, values, count in (("1 STRING", one, 1), ("2 STRINGs", two, 2)):
        if not values:
            continue
        wire_ms = sizes[count] * bits / args.baudrate * 1000
        print(f"queue change -> last byte in pty, {label} ({sizes[count]} bytes, n={len(values)}): "
              f"median {statistics.median(values) * 1e6:.0f} us, p99 {pct(values, 99) * 1e6:.0f} us; "
              f"+ {wire_ms:.1f} ms wire time at {args.baudrate} baud")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
