"""Benchmark (not a test): PBX records -> durable CDR rows through the real daemon, and its RSS.

Starts `appliance run` as a subprocess with an Avaya IP Office TCP feed, blasts pre-encoded SMDR
records at it over one TCP connection (as an IP Office flushing its buffer would), and measures
how fast they become durable rows in the SQLite store, sampling the daemon's RSS as rows pile up.

    python bench/bench_ingest.py [--records 1000000]

Targets (issue 2): >= 20,000 CDR/s on the 2-core box; RSS <= 80 MB, flat in the number stored.
"""
from __future__ import annotations

import argparse
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_bridge.smdr.avaya import encode_record  # noqa: E402
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_to_daemon(port: int, daemon: subprocess.Popen) -> socket.socket:
    """Connect as the PBX once the daemon listens (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            sock.settimeout(None)    # the daemon reads at its own pace: TCP flow control waits
            return sock
        except OSError:
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("daemon did not start listening")
            time.sleep(0.1)


def stored(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute("SELECT max(id) FROM cdr").fetchone()[0] or 0
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()

    print(f"generating {args.records:,} Avaya records ...", flush=True)
    calls_needed = int(args.records / 1.12) + 10
    records = in_output_order(generate_avaya_calls(calls_needed, start=datetime(2026, 1, 1), seed=1))[:args.records]
    payload = b"".join(encode_record(r) for r in records)
    n = len(records)

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    port = free_port()
    config = work / "appliance.toml"
    config.write_text(f'[site]\nid = "bench"\ndata_dir = "{work / "data"}"\n[log]\nlevel = "warning"\n'
                      f'[control]\nsocket = "{work / "control.sock"}"\n[metrics]\nlisten = ""\n'
                      f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{port}"\n')
    daemon = subprocess.Popen([sys.executable, "-m", "appliance", "run", "--config", str(config)], cwd=ROOT)
    proc = psutil.Process(daemon.pid)
    try:
        sock = connect_to_daemon(port, daemon)
        idle_rss = proc.memory_info().rss
        db = work / "data" / "appliance.db"
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        t0 = time.monotonic()
        sender.start()
        samples = []
        last_print = t0
        while True:
            count = stored(db)
            rss = proc.memory_info().rss
            samples.append((count, rss))
            now = time.monotonic()
            if now - last_print >= 5:
                print(f"  {count:>9,} rows  {count / (now - t0):>8,.0f}/s  RSS {rss / 2**20:.1f} MB", flush=True)
                last_print = now
            if count >= n:
                break
            if daemon.poll() is not None:
                raise SystemExit("daemon died")
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        sock.close()
        peak = max(r for _, r in samples)
        quarter = [r for c, r in samples if c <= n // 4]
        rss_at_quarter = max(quarter) if quarter else peak
        print()
        print(f"records: {n:,} durable in {elapsed:.1f}s = {n / elapsed:,.0f} CDR/s (target >= 20,000)")
        print(f"daemon RSS: idle {idle_rss / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB (target <= 80 MB), "
              f"peak up to 25% stored {rss_at_quarter / 2**20:.1f} MB, at the end {samples[-1][1] / 2**20:.1f} MB")
        print(f"database: {db.stat().st_size / 2**20:.0f} MB in {work / 'data'}")
    finally:
        daemon.terminate()
        daemon.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
