"""Benchmark the central on SQLite or PostgreSQL, with one or two replicas: drain CDR/s, RSS, CPU per record.

Prints figures; asserts nothing. Usage:
    .venv/bin/python bench/bench_central.py [--backend sqlite|postgres] [--replicas 1|2] [--n 1000000]
                                            [--runs 3] [--client fast|site] [--pg-insert copy|staging|values]
--client fast: pre-serialised batches (what the site will send), so the figures are the central's;
--client site: the real SyncClient draining a filled site store (bench_sync.py's children).
With two replicas, two sites drain at once, each to its own replica (N/2 records each).
Each run: a fresh database, mTLS, 4 batches in flight, durable on the central (and the site); batches of
500 records from the fast client, of the site's default batch_size (1,000) from the site.
Figures for issue 12 (site side; median of 3):
    .venv/bin/python bench/bench_central.py --client site --n 1000000 --runs 3
    .venv/bin/python bench/bench_central.py --client site --backend postgres --n 1000000 --runs 3
    .venv/bin/python bench/bench_central.py --client site --backend postgres --replicas 2 --n 1000000 --runs 3
CPU per record: client processes, central processes, and the PostgreSQL server processes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.sync.config import CentralConfig  # noqa: E402
from tests.helpers.central_proc import CentralProcess, TestPki, make_pki  # noqa: E402

BATCH, WINDOW = 500, 4
SITE_BATCH = CentralConfig().batch_size      # --client site: the site as shipped
RAW = ("2026/11/22 12:00:00,00:02:55,5,+15551234567,I,5550100,5550100,,,1000123,0,E201,Agent 201,T9001,"
       "Line 1.1,0,0,,,,,,,,,,")


# ---- the fast client (a child process) ---------------------------------------------------------

def child_fast(spec: dict) -> None:
    """Stream spec["n"] records as pre-serialised batches; print the result as JSON."""
    import grpc
    import psutil

    from appliance.central.wire import varint_bytes
    from appliance.v1 import cdr_pb2, sync_pb2
    site, n = spec["site"], spec["n"]
    template = cdr_pb2.CallRecord(site_id=site, source="pbx1", source_kind="avaya-ipo", direction=cdr_pb2.INBOUND,
                                  caller="+15551234567", callee="201", dialled_number="5550100", queue="sales",
                                  agent="201", started_at="2026-11-22T12:00:00Z", answered_at="2026-11-22T12:00:05Z",
                                  ended_at="2026-11-22T12:03:00Z", ring_s=5, talk_s=175,
                                  disposition=cdr_pb2.ANSWERED, leg=1, final_leg=True, raw=RAW)
    tail = template.SerializeToString()

    def batch(batch_id: int, start: int) -> bytes:
        """SyncRequest{batch{batch_id, records}} built from record bytes: key field + the template."""
        parts = []
        for i in range(start, min(n, start + BATCH)):
            key = f"{site}-pbx1-{i:010d}".encode()
            record = b"\x0a" + bytes((len(key),)) + key + tail
            parts.append(b"\x12" + varint_bytes(len(record)) + record)
        body = b"\x08" + varint_bytes(batch_id) + b"".join(parts)
        return b"\x12" + varint_bytes(len(body)) + body

    async def main() -> dict:
        creds = grpc.ssl_channel_credentials(Path(spec["ca"]).read_bytes(), Path(spec["key"]).read_bytes(),
                                             Path(spec["cert"]).read_bytes())
        async with grpc.aio.secure_channel(spec["endpoint"], creds) as channel:
            call = channel.stream_stream("/appliance.v1.CdrSync/Sync", request_serializer=None,
                                         response_deserializer=None)()
            await call.write(sync_pb2.SyncRequest(hello=sync_pb2.Hello(site_id=site)).SerializeToString())
            slots = asyncio.Semaphore(WINDOW)
            acked = 0
            started = time.perf_counter()

            async def receive() -> None:
                nonlocal acked
                while acked < n:
                    response = sync_pb2.SyncResponse.FromString(await call.read())
                    acked += sum(1 for a in response.acks if a.status == sync_pb2.STORED)
                    slots.release()

            receiver = asyncio.create_task(receive())
            for batch_id, start in enumerate(range(0, n, BATCH)):
                await slots.acquire()
                await call.write(batch(batch_id, start))
            await receiver
            seconds = time.perf_counter() - started
            await call.done_writing()
        me = psutil.Process()
        return {"seconds": seconds, "acked": acked, "cpu_s": sum(me.cpu_times()[:2]),
                "rss_max": me.memory_info().rss}

    print(json.dumps(asyncio.run(main())))


def child_live(spec: dict) -> None:
    """Publish a call event every 50 ms to one central, subscribe on another (or the same); until stdin
    closes. Prints device-event -> subscriber latencies (p50, p99, max) as JSON."""
    import grpc

    from appliance.v1 import live_pb2, live_pb2_grpc

    def creds(cert: str, key: str):
        return grpc.ssl_channel_credentials(Path(spec["ca"]).read_bytes(), Path(key).read_bytes(),
                                            Path(cert).read_bytes())

    async def main() -> dict:
        latencies: list[float] = []
        async with grpc.aio.secure_channel(spec["publish_to"], creds(spec["site_cert"], spec["site_key"])) as pub_ch, \
                grpc.aio.secure_channel(spec["subscribe_to"], creds(spec["crm_cert"], spec["crm_key"])) as sub_ch:
            sub = live_pb2_grpc.LiveEventsStub(sub_ch).Subscribe(live_pb2.SubscribeRequest(sites=[spec["site"]]))
            pub = live_pb2_grpc.LiveEventsStub(pub_ch).Publish()
            await pub.write(live_pb2.PublishRequest(hello=live_pb2.PublishHello(site_id=spec["site"])))

            async def receive() -> None:
                async for event in sub:
                    if event.WhichOneof("body") == "call":
                        sent = int(event.call.call_key.rsplit("-", 1)[1])
                        latencies.append((time.monotonic_ns() - sent) / 1e6)

            async def publish() -> None:
                seq = 0
                while True:
                    seq += 1
                    event = live_pb2.LiveEvent(site_id=spec["site"], site_seq=seq, at="2026-11-22T12:00:00.000Z",
                                               call=live_pb2.CallEvent(call_key=f"lat-{time.monotonic_ns()}",
                                                                       seq=1, type=live_pb2.CALL_RINGING))
                    await pub.write(live_pb2.PublishRequest(event=event))
                    await asyncio.sleep(0.05)

            async def drain_acks() -> None:
                async for _ in pub:
                    pass

            tasks = [asyncio.create_task(job()) for job in (receive, publish, drain_acks)]
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        ordered = sorted(latencies) or [float("nan")]
        return {"events": len(latencies), "p50": ordered[len(ordered) // 2],
                "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], "max": ordered[-1]}

    print(json.dumps(asyncio.run(main())))


# ---- orchestration -----------------------------------------------------------------------------

class Sampler:
    """Peak RSS and CPU time of a set of processes (by pid), sampled every 100 ms."""

    def __init__(self, pids_fn):
        self._pids_fn = pids_fn
        self.rss_max: dict[str, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _run(self) -> None:
        import psutil
        while not self._stop.wait(0.1):
            for label, pid in self._pids_fn():
                try:
                    proc = psutil.Process(pid)
                    self.rss_max[label] = max(self.rss_max.get(label, 0), proc.memory_info().rss)
                    self.cpu[pid] = sum(proc.cpu_times()[:2])
                except psutil.Error:
                    pass

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def postgres_cpu(pg) -> dict[int, float]:
    """CPU seconds of every process of this benchmark's cluster (the postmaster and its children)."""
    import psutil
    if pg is None:
        return {}
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if len(cmd) > 2 and cmd[0].endswith("postgres") and str(pg.data) in cmd:
            out = {}
            for member in [proc, *proc.children(recursive=True)]:
                try:
                    out[member.pid] = sum(member.cpu_times()[:2])
                except psutil.Error:
                    pass
            return out
    return {}


def cpu_of(pids: list[int]) -> float:
    import psutil
    total = 0.0
    for pid in pids:
        try:
            total += sum(psutil.Process(pid).cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def run_once(args, pki: TestPki, workdir: Path, pg, index: int) -> dict:
    sites = ["site-a", "site-b"][:args.replicas]
    per_site = args.n // len(sites)
    db_args: dict = {"env": {"PYTHONPATH": args.central_src}} if args.central_src else {}
    if args.backend == "postgres":
        url = pg.url(pg.new_database(f"bench{index}"))
        db_args = {"db": url, "env": {"PGPASSWORD": pg_password(), **db_args.get("env", {})}}
    extra = ("--pg-insert", args.pg_insert) if args.backend == "postgres" else ()
    centrals = [CentralProcess(workdir / f"run{index}-replica{r}.db", pki=pki, extra_args=extra, **db_args)
                for r in range(args.replicas)]
    fills = []
    if args.client == "site":
        for site in sites:
            fills.append(_site_fill(workdir / f"run{index}-{site}", site, per_site))
    try:
        return _measure(args, pki, sites, per_site, centrals, fills, pg)
    finally:
        for central in centrals:
            central.close()


def _measure(args, pki: TestPki, sites, per_site: int, centrals, fills, pg) -> dict:
    for central in centrals:
        central.start()
    pg_cpu0 = postgres_cpu(pg)
    central_cpu0 = [cpu_of([c.proc.pid]) for c in centrals]
    children = []
    live = None
    if args.live:
        live_spec = {"site": sites[0], "publish_to": centrals[0].address, "subscribe_to": centrals[-1].address,
                     "ca": str(pki.ca), "site_cert": str(pki.sites[sites[0]].cert),
                     "site_key": str(pki.sites[sites[0]].key), "crm_cert": str(pki.crm.cert),
                     "crm_key": str(pki.crm.key)}
        live = subprocess.Popen([sys.executable, __file__, "_live", json.dumps(live_spec)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    started = time.perf_counter()
    with Sampler(lambda: [(f"central{i}", c.proc.pid) for i, c in enumerate(centrals)]
                 + [(f"client{i}", p.pid) for i, p in enumerate(children)]) as sampler:
        for site, central, fill in zip(sites, centrals, fills or [None] * len(sites)):
            spec = {"site": site, "n": per_site, "endpoint": central.address, "ca": str(pki.ca),
                    "cert": str(pki.sites[site].cert), "key": str(pki.sites[site].key)}
            children.append(_start_client(args.client, spec, fill))
        try:
            results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in children]
        except BaseException:
            for child in [*children, live]:
                if child is not None and child.poll() is None:
                    child.kill()
            raise
    wall = time.perf_counter() - started
    latency = json.loads(live.communicate("")[0].strip().splitlines()[-1]) if live is not None else None
    central_cpu = sum(cpu_of([c.proc.pid]) - c0 for c, c0 in zip(centrals, central_cpu0))
    pg_cpu = sum(cpu - pg_cpu0.get(pid, 0.0) for pid, cpu in postgres_cpu(pg).items())
    stored = _count(centrals[0])
    for central in centrals:
        central.stop()
    acked = sum(r["acked"] for r in results)
    return {"rate": acked / wall, "acked": acked, "stored": stored, "wall": wall,
            "client_us": sum(r["cpu_s"] for r in results) / acked * 1e6, "central_us": central_cpu / acked * 1e6,
            "pg_us": pg_cpu / acked * 1e6,
            "client_rss": max(v for k, v in sampler.rss_max.items() if k.startswith("client")) / 2**20
            if any(k.startswith("client") for k in sampler.rss_max) else 0,
            "central_rss": max(v for k, v in sampler.rss_max.items() if k.startswith("central")) / 2**20,
            "live_p50": latency["p50"] if latency else 0.0, "live_p99": latency["p99"] if latency else 0.0,
            "live_max": latency["max"] if latency else 0.0, "live_events": latency["events"] if latency else 0}


def _count(central: CentralProcess) -> int:
    try:
        with central.open_store() as store:
            return store.count_records()
    except Exception:          # noqa: BLE001 - an older central's schema: count the table directly
        import sqlite3
        with sqlite3.connect(central.db_path) as conn:
            return conn.execute("SELECT count(*) FROM records").fetchone()[0]


def pg_password() -> str:
    from tests.helpers.pg_cluster import PASSWORD
    return PASSWORD


def _site_fill(data: Path, site: str, n: int) -> Path:
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_sync.py"), "_fill", str(data), str(n)],
                   check=True, capture_output=True, env=dict(os.environ, BENCH_SITE=site))
    return data


def _start_client(kind: str, spec: dict, fill: Path | None) -> subprocess.Popen:
    if kind == "fast":
        cmd = [sys.executable, __file__, "_fast", json.dumps(spec)]
    else:
        drain = {"pki_dir": str(Path(spec["ca"]).parent), "ca": spec["ca"], "cert": spec["cert"], "key": spec["key"],
                 "endpoint": spec["endpoint"], "data": str(fill), "n": spec["n"], "batch_size": SITE_BATCH,
                 "window": WINDOW, "timeout_s": 900}
        cmd = [sys.executable, str(REPO / "bench" / "bench_sync.py"), "_drain", json.dumps(drain)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ, BENCH_SITE=spec["site"]))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_fast":
        child_fast(json.loads(sys.argv[2]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_live":
        child_live(json.loads(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--replicas", type=int, choices=[1, 2], default=1)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--client", choices=["fast", "site"], default="fast")
    parser.add_argument("--pg-insert", choices=["copy", "staging", "values"], default="copy")
    parser.add_argument("--live", action="store_true",
                        help="also publish live events (20/s) during the drain and time them to a subscriber "
                             "(on the other replica with --replicas 2)")
    parser.add_argument("--central-src", metavar="DIR",
                        help="run the central from another checkout (before/after figures; run from outside the repo)")
    args = parser.parse_args()
    if args.backend == "sqlite" and args.replicas == 2:
        parser.error("two replicas need PostgreSQL (SQLite is one process)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))     # run the clean-up below on a plain kill too
    workdir = Path(tempfile.mkdtemp(prefix="bench-central-"))
    pg = None
    try:
        pki = make_pki(workdir / "pki", "site-a", extra_sites=("site-b",))
        if args.backend == "postgres":
            from tests.helpers.pg_cluster import PgCluster
            pg = PgCluster().init()
        print(f"bench_central: {args.backend} ({args.pg_insert if args.backend == 'postgres' else 'WAL, FULL'}), "
              f"{args.replicas} replica(s), {args.n:,} records, client {args.client}, {os.cpu_count()} CPUs")
        runs = []
        for index in range(args.runs):
            result = run_once(args, pki, workdir, pg, index)
            runs.append(result)
            print(f"  run {index + 1}: {result['rate']:,.0f} CDR/s ({result['acked']:,} acked, {result['stored']:,} "
                  f"stored, {result['wall']:.1f} s); CPU/record: client {result['client_us']:.1f} us, central "
                  f"{result['central_us']:.1f} us, postgres {result['pg_us']:.1f} us; RSS max: client "
                  f"{result['client_rss']:.0f} MB, central {result['central_rss']:.0f} MB", flush=True)
            if args.live:
                print(f"         live event -> subscriber during the drain: {result['live_events']} events, "
                      f"p50 {result['live_p50']:.1f} ms, p99 {result['live_p99']:.1f} ms, max "
                      f"{result['live_max']:.1f} ms (target p99 <= 200 ms)", flush=True)
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(f"  median of {len(runs)}: {med['rate']:,.0f} CDR/s; CPU/record client {med['client_us']:.1f} us, "
              f"central {med['central_us']:.1f} us, postgres {med['pg_us']:.1f} us; RSS client "
              f"{med['client_rss']:.0f} MB, central {med['central_rss']:.0f} MB"
              + (f"; live p99 {med['live_p99']:.1f} ms" if args.live else ""))
    finally:
        if pg is not None:
            pg.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
