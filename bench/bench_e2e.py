"""Benchmark (not a test): Avaya SMDR over TCP -> the daemon -> durable at the central (SQLite, mTLS).

Measured the way issue 12 compares with Fluent Bit: a driver pushes N pre-encoded Avaya IP Office
records over one TCP connection as fast as the daemon takes them (TCP flow control paces it); the
clock runs from the first byte sent until the last record is committed at the central (its
SQLite file holds N records). Both sides are durable (synchronous=FULL, mTLS), and the daemon
takes bytes out of the kernel only once their records are committed in its store.
Prints each run and the median of the runs (rate, site and central CPU per record, peak RSS of
the daemon and of the central, how far the central fell behind the site during the ingest);
asserts nothing.

    .venv/bin/python bench/bench_e2e.py --records 200000 --runs 3
    .venv/bin/python bench/bench_e2e.py --records 1000000 --runs 3
    .venv/bin/python bench/bench_e2e.py --records 200000 --runs 1 --py-spy /tmp/e2e.svg   # profile the daemon
    .venv/bin/python bench/bench_e2e.py --site-src /tmp/baseline   # the daemon from another checkout (before)
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
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
from tests.helpers.central_proc import CentralProcess, make_pki  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_ingest import connect_to_daemon, free_port, stored as site_count  # noqa: E402

SITE = "site-a"


def central_count(db: Path) -> int:
    """Records committed at the central (rowids grow by one per insert: max is the count)."""
    return max_rowid(db, "SELECT max(rowid) FROM records")


def max_rowid(db: Path, sql: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql).fetchone()[0] or 0
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def payload(n: int) -> bytes:
    calls = int(n / 1.08) + 100
    records = in_output_order(generate_avaya_calls(calls, start=datetime(2026, 1, 1), seed=1))[:n]
    if len(records) < n:
        raise SystemExit(f"generated only {len(records)} records")
    return b"".join(encode_record(r) for r in records)


class Sampler:
    """Peak RSS and last CPU time of each process, every 100 ms."""

    def __init__(self, procs: dict[str, psutil.Process]):
        self.procs = procs
        self.rss = {k: 0 for k in procs}
        self.cpu = {k: 0.0 for k in procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def sample(self) -> None:
        for k, p in self.procs.items():
            try:
                self.rss[k] = max(self.rss[k], p.memory_info().rss)
                self.cpu[k] = sum(p.cpu_times()[:2])
            except psutil.Error:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def print_thread_cpu(proc: psutil.Process, n: int) -> None:
    """CPU per record of each daemon thread, named by py-spy dump."""
    names = {}
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    dump = subprocess.run([spy, "dump", "--pid", str(proc.pid), "--nonblocking"], capture_output=True, text=True)
    for line in dump.stdout.splitlines():
        if line.startswith("Thread "):          # Thread 1234 (active): "MainThread"
            parts = line.split()
            names[int(parts[1], 0)] = line.rsplit(" ", 1)[-1].strip('"')
    for t in sorted(proc.threads(), key=lambda t: -(t.user_time + t.system_time)):
        cpu = t.user_time + t.system_time
        if cpu > 0.05:
            print(f"      {names.get(t.id, t.id)!s:24} {cpu / n * 1e6:6.1f} us/record "
                  f"(user {t.user_time / n * 1e6:.1f}, system {t.system_time / n * 1e6:.1f})")


def spy_format(path: str) -> str:
    """py-spy's output format by the file's extension: .json speedscope, .txt collapsed stacks, else SVG."""
    return {".json": "speedscope", ".txt": "raw"}.get(Path(path).suffix, "flamegraph")


def run_once(args, data: bytes, n: int, index: int, work: Path) -> dict:
    run = work / f"run{index}"
    run.mkdir()
    pki = make_pki(run / "pki", SITE, extra_sites=())
    central = CentralProcess(run / "central.db", pki=pki)
    central.start()
    port = free_port()
    config = run / "appliance.toml"
    config.write_text(
        f'[site]\nid = "{SITE}"\ndata_dir = "{run / "data"}"\n[log]\nlevel = "warning"\n'
        f'[control]\nsocket = "{run / "control.sock"}"\n[metrics]\nlisten = ""\n'
        + pki.central_toml(SITE, central.address) +
        f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{port}"\n')
    src = Path(args.site_src).resolve() if args.site_src else ROOT
    env = dict(os.environ, PYTHONPATH=str(src))
    daemon = subprocess.Popen([sys.executable, "-m", "appliance", "run", "--config", str(config)], cwd=src,
                              env=env, stdout=subprocess.DEVNULL if args.quiet else None)
    spy = None
    try:
        sock = connect_to_daemon(port, daemon)
        time.sleep(1.0)                  # let the sync connect: its handshake is not part of the figure
        procs = {"daemon": psutil.Process(daemon.pid), "central": psutil.Process(central.proc.pid)}
        sampler = Sampler(procs)
        cpu0 = {k: sum(p.cpu_times()[:2]) for k, p in procs.items()}
        if args.py_spy and index == 0:
            spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(daemon.pid), "-o", args.py_spy, "-r", "200",
                                    "--threads", "--nonblocking", "-f", spy_format(args.py_spy),
                                    *(["--gil"] if args.gil else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sent = []

        def send() -> None:
            sock.sendall(data)
            sent.append(time.monotonic())
        sender = threading.Thread(target=send, name="bench-sender", daemon=True)
        t0 = time.monotonic()
        sender.start()
        db = run / "central.db"
        last_print = t0
        site_db, site_done, behind = run / "data" / "appliance.db", None, 0
        while True:
            count = central_count(db)
            now = time.monotonic()
            at_site = site_count(site_db) if site_done is None else n
            behind = max(behind, at_site - count)       # durable at the site, not yet at the central
            if site_done is None and at_site >= n:
                site_done = now - t0
            if count >= n:
                break
            if daemon.poll() is not None:
                raise SystemExit("daemon died")
            if now - t0 > args.timeout:
                raise SystemExit(f"timed out with {count:,} of {n:,} at the central")
            if not args.quiet and now - last_print >= 5:
                print(f"    {count:>9,} at the central  {count / (now - t0):>8,.0f}/s, {at_site:>9,} at the site",
                      flush=True)
                last_print = now
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        sampler.stop()
        if args.threads:
            print_thread_cpu(procs["daemon"], n)
        sock.close()
        sender.join(10)
        return {"rate": n / elapsed, "seconds": elapsed, "sent_s": (sent[0] - t0) if sent else elapsed,
                "site_s": site_done or elapsed, "behind": behind,
                "site_us": (sampler.cpu["daemon"] - cpu0["daemon"]) / n * 1e6,
                "central_us": (sampler.cpu["central"] - cpu0["central"]) / n * 1e6,
                "daemon_rss": sampler.rss["daemon"] / 2**20, "central_rss": sampler.rss["central"] / 2**20}
    finally:
        if spy is not None:
            spy.send_signal(2)
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        central.close()
        shutil.rmtree(run, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run at most")
    ap.add_argument("--site-src", help="run the daemon from another checkout (before/after figures)")
    ap.add_argument("--py-spy", metavar="FILE", help="profile the daemon during the first run (py-spy record)")
    ap.add_argument("--gil", action="store_true", help="with --py-spy: only samples holding the GIL (what bounds the rate)")
    ap.add_argument("--threads", action="store_true", help="print the daemon's CPU per thread after each run")
    ap.add_argument("--quiet", action="store_true", help="only the figures")
    args = ap.parse_args()
    print(f"bench_e2e: generating {args.records:,} Avaya records ...", flush=True)
    data = payload(args.records)
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    runs = []
    try:
        print(f"bench_e2e: {args.records:,} records ({len(data) / 2**20:.0f} MB) over TCP -> daemon -> SQLite "
              f"central (mTLS, durable both sides), {os.cpu_count()} CPUs"
              + (f", site from {args.site_src}" if args.site_src else ""), flush=True)
        for index in range(args.runs):
            r = run_once(args, data, args.records, index, work)
            runs.append(r)
            print(f"  run {index + 1}: {r['rate']:,.0f} CDR/s ({r['seconds']:.1f} s; last byte sent after "
                  f"{r['sent_s']:.1f} s, all durable at the site after {r['site_s']:.1f} s; the central at most "
                  f"{r['behind']:,} records behind the site); CPU/record: site "
                  f"{r['site_us']:.1f} us, central {r['central_us']:.1f} us; RSS max: daemon "
                  f"{r['daemon_rss']:.0f} MB, central {r['central_rss']:.0f} MB", flush=True)
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"  median of {len(runs)}: {med['rate']:,.0f} CDR/s; CPU/record site {med['site_us']:.1f} us, "
              f"central {med['central_us']:.1f} us; the central at most {med['behind']:,.0f} records behind; "
              f"RSS daemon {med['daemon_rss']:.0f} MB, "
              f"central {med['central_rss']:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
