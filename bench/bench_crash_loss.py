"""Records lost to kill -9 of the daemon during an Avaya TCP feed, with systemd's fd store and without it.

Prints figures; asserts nothing. Usage:
    .venv/bin/python bench/bench_crash_loss.py [--kills 50] [--rate 1000] [--seed 7] [--only store|nostore]

The real daemon runs under tests/helpers/supervisor.py (systemd's protocol: NOTIFY_SOCKET, FDSTORE=1
with SCM_RIGHTS, LISTEN_FDS on restart), FileDescriptorStoreMax=64 ("store") or 0 ("nostore", the
default of a unit without the setting). An IP Office emulator is fed --rate records/s and never
re-sends after a reconnect (otherwise nothing is ever lost); its own buffer is large enough that it
drops nothing. The daemon is killed with SIGKILL at a random moment 0.5-2.5 s after each restart
was ready, and restarted at once, --kills times. Lost = records the PBX produced that never reached
the store; twice = records stored more than once (the store's keys should make that 0).
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from firmware_bridge.smdr.avaya import encode_record  # noqa: E402
from firmware_bridge.smdr.emulator import AvayaEmulator  # noqa: E402
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order  # noqa: E402
from tests.helpers.daemon_proc import DaemonProcess  # noqa: E402
from tests.helpers.waiting import free_port  # noqa: E402

CYCLE_MAX_S = 4.0          # wait before a kill (<= 2.5 s) + a restart: for sizing the feed


def feed_lines(count: int, seed: int) -> list[bytes]:
    """`count` distinct IP Office record lines (CR LF included)."""
    lines: list[bytes] = []
    chunk = 0
    while len(lines) < count:
        calls = generate_avaya_calls(20_000, start=datetime(2026, 1, 1) + timedelta(days=10 * chunk),
                                     seed=seed + chunk, first_call_id=1_000_000_000 + chunk * 1_000_000)
        lines += [encode_record(r) for r in in_output_order(calls)]
        chunk += 1
    return lines[:count]


def stored_raws(data_dir: Path) -> Counter:
    path = data_dir / "appliance.db"
    if not path.exists():
        return Counter()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return Counter(r[0] for r in conn.execute("SELECT raw FROM cdr WHERE source = 'ipo'"))
    except sqlite3.OperationalError:
        return Counter()
    finally:
        conn.close()


def write_config(directory: Path, port: int) -> Path:
    path = directory / "appliance.toml"
    path.write_text(f'[site]\nid = "bench"\ndata_dir = "{directory / "data"}"\n'
                    f'[control]\nsocket = "{directory / "control.sock"}"\n[metrics]\nlisten = ""\n'
                    f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{port}"\n')
    return path


class Feeder:
    """Hands the emulator records at a steady rate from its own thread, until stopped."""

    def __init__(self, pbx: AvayaEmulator, lines: list[bytes], rate: float):
        self.pbx, self.lines, self.rate = pbx, lines, rate
        self.produced = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-feeder")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.01) and self.produced < len(self.lines):
            due = min(len(self.lines), int((time.monotonic() - started) * self.rate))
            if due > self.produced:
                self.pbx.send_lines(self.lines[self.produced:due])
                self.produced = due


def run(mode: str, kills: int, rate: float, seed: int, lines: list[bytes]) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix=f"crash-{mode}-") as tmp:
        directory = Path(tmp)
        port = free_port()
        store_max = 64 if mode == "store" else 0
        restart_s: list[float] = []
        with DaemonProcess(write_config(directory, port), fd_store_max=store_max) as daemon, \
                AvayaEmulator("127.0.0.1", port, buffer_limit=len(lines), reconnect_delay=0.02,
                              reconnect_delay_max=0.2) as pbx:
            daemon.start()
            feeder = Feeder(pbx, lines, rate)
            feeder.start()
            try:
                for _ in range(kills):
                    time.sleep(rng.uniform(0.5, 2.5))          # a random moment in the stream
                    daemon.kill()
                    began = time.monotonic()
                    daemon.start(60)
                    restart_s.append(time.monotonic() - began)
            finally:
                feeder.stop()
            pbx.wait_sent(120)
            produced = {line[:-2].decode("latin-1") for line in lines[:feeder.produced]}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:                   # until the store holds all it will
                got = stored_raws(directory / "data")
                if produced <= set(got):
                    break
                time.sleep(1.0)
                if stored_raws(directory / "data") == got and pbx.pending == 0:
                    break
            daemon.terminate()
            stored = stored_raws(directory / "data")
        return {"mode": mode, "kills": kills, "produced": len(produced), "stored": len(stored),
                "lost": len(produced - set(stored)), "twice": sum(1 for n in stored.values() if n > 1),
                "connections": pbx.connections, "pbx_dropped": pbx.dropped,
                "restart_s": statistics.median(restart_s) if restart_s else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("store", "nostore"))
    args = parser.parse_args()
    lines = feed_lines(int(args.rate * args.kills * CYCLE_MAX_S) + 10_000, args.seed)
    print(f"kill -9 x {args.kills} during a {args.rate:g} records/s Avaya TCP feed (PBX never re-sends)")
    print(f"{'fd store':<10} {'produced':>9} {'stored':>9} {'lost':>6} {'twice':>6} {'PBX connections':>16} "
          f"{'restart s (median)':>19}")
    for mode in ("store", "nostore"):
        if args.only and mode != args.only:
            continue
        r = run(mode, args.kills, args.rate, args.seed, lines)
        label = "on" if mode == "store" else "off"
        print(f"{label:<10} {r['produced']:>9} {r['stored']:>9} {r['lost']:>6} {r['twice']:>6} "
              f"{r['connections']:>16} {r['restart_s']:>19.2f}", flush=True)
        if r["pbx_dropped"]:
            print(f"  (the emulator's own buffer dropped {r['pbx_dropped']} records)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
