"""Benchmark (not a test): the real daemon on a real tmpfs that fills while an Avaya feed keeps pushing.

Prints the daemon's RSS while the disk is full and records keep arriving (input is held: the
records wait in the PBX and in TCP buffers, not in the daemon), and the time from space returning
(the filler deleted) to device input resumed, over several fill/free cycles. Needs root (mount).

    sudo python bench/bench_disk_full.py [--seconds 30] [--cycles 5] [--rate 1000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_bridge.smdr.emulator import AvayaEmulator  # noqa: E402
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order  # noqa: E402
from tests.helpers.daemon_proc import DaemonProcess  # noqa: E402
from tests.helpers.store_site import status, write_config  # noqa: E402
from tests.helpers.tmpfs import fill, tmpfs  # noqa: E402
from tests.helpers.waiting import free_port, wait_for  # noqa: E402

MB = 2 ** 20


def feed(pbx: AvayaEmulator, rate: float, stop: threading.Event) -> None:
    """Offer `rate` records a second until stopped, like a busy IP Office."""
    day = 0
    while not stop.is_set():
        day += 1
        calls = in_output_order(generate_avaya_calls(int(rate), start=datetime(2026, 1, 1 + day % 28, 8),
                                                     seed=day))
        pbx.send(calls[:int(rate)])
        stop.wait(1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="how long the disk stays full in cycle 1")
    ap.add_argument("--cycles", type=int, default=5, help="fill/free cycles for the resume time")
    ap.add_argument("--rate", type=float, default=1000.0, help="records offered per second")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (mounts a tmpfs)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-disk-full-"))
    avaya = free_port()
    with tmpfs(work / "data", "96m") as data:
        config = write_config(work, data, avaya_port=avaya, store="ballast_mb = 8")
        config.write_text(config.read_text() + '[log]\nlevel = "warning"\n')
        stop = threading.Event()
        with DaemonProcess(config) as daemon, \
                AvayaEmulator("127.0.0.1", avaya, buffer_limit=3000) as pbx:
            daemon.start()
            proc = psutil.Process(daemon.proc.pid)
            feeder = threading.Thread(target=feed, args=(pbx, args.rate, stop), daemon=True)
            feeder.start()
            wait_for(lambda: status(work)["records_durable"] > 2 * args.rate, 30, message="records flowing")
            flowing_rss = proc.memory_info().rss
            resumes, full_rss = [], []
            for cycle in range(args.cycles):
                filler = fill(data)
                wait_for(lambda: status(work)["store"]["state"] == "degraded", 60, message="degraded")
                end = time.monotonic() + (args.seconds if cycle == 0 else 3.0)
                while time.monotonic() < end:
                    full_rss.append(proc.memory_info().rss)
                    time.sleep(0.25)      # sampling interval of a benchmark, not a wait for an event
                st = status(work)
                print(f"cycle {cycle + 1}: full, input held by {st['input_held']}, writer queue "
                      f"{st['store_queue']}, RSS {full_rss[-1] / MB:.1f} MB", flush=True)
                freed = time.monotonic()
                filler.unlink()
                wait_for(lambda: not status(work)["input_held"], 60, interval=0.01, message="input resumed")
                resumes.append(time.monotonic() - freed)
                print(f"cycle {cycle + 1}: input resumed {resumes[-1]:.2f} s after space returned", flush=True)
                wait_for(lambda: status(work)["store_queue"] < args.rate, 30, message="caught up")
            stop.set()
            feeder.join(5)
            stored = status(work)["records_durable"]
            daemon.terminate(60)
    print()
    print(f"offered {args.rate:.0f} records/s throughout; {stored:,} stored")
    print(f"daemon RSS while records flow: {flowing_rss / MB:.1f} MB; while the disk is full and input "
          f"keeps arriving ({args.seconds:.0f} s + {args.cycles - 1} x 3 s): min {min(full_rss) / MB:.1f}, "
          f"median {statistics.median(full_rss) / MB:.1f}, max {max(full_rss) / MB:.1f} MB")
    print(f"space returned -> input resumed: median {statistics.median(resumes):.2f} s, "
          f"max {max(resumes):.2f} s over {len(resumes)} cycles (recovery back-off 0.5 s doubling to 5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
