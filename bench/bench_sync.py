"""Benchmark the sync client against real centrals over mTLS: throughput, memory, latency, failover times.

Prints figures; asserts nothing. Usage:
    /tmp/venv/bin/python bench/bench_sync.py [--n 1000000] [--n-unary 20000] [--latency-s 30]
                                             [--rate 50] [--failback-after-s 5] [--only abcd]
(a) drain a backlog of N CDRs, durable on both sides: CDR/s and the client's RSS during the drain;
(b) the same with one record per message and one message in flight (a Sync stream with batch size 1,
    i.e. a unary call per record: each record waits for its own durable ack), over --n-unary: ratio;
(c) call end -> central ack latency at --rate calls/s for --latency-s seconds: from the call's
    StoreWriter.submit (the daemon's path; wake() from its on_durable hook) until the central's ack
    is durable in the site store (mark_delivered committed);
(d) failover time with the primary killed (kill -9) and black-holed, and failback time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.ops.pki import init_pki  # noqa: E402
from appliance.calls.record import CallRecord  # noqa: E402
from appliance.store import Store  # noqa: E402
from appliance.store import StoreWriter  # noqa: E402
from appliance.sync import SyncClient, CentralConfig  # noqa: E402
from tests.helpers.central_proc import CentralProcess, TestPki  # noqa: E402
from tests.helpers.tcp_proxy import TcpProxy  # noqa: E402

SITE = os.environ.get("BENCH_SITE", "site-a")     # bench_central.py drains two sites at once


def call_record(i: int) -> CallRecord:
    """A realistic Avaya SMDR call: ~300 bytes on the wire, raw line included."""
    return CallRecord(
        key=f"{SITE}-pbx1-{i:010d}", site_id=SITE, source="pbx1", source_kind="avaya-ipo",
        direction="inbound", caller="+15551234567", callee="201", dialled_number="5550100",
        queue="sales", agent="201", started_at="2026-11-22T12:00:00Z",
        answered_at="2026-11-22T12:00:05Z", ended_at="2026-11-22T12:03:00Z", ring_s=5, talk_s=175,
        hold_s=0, disposition="answered", pbx_call_id=str(1000000 + i), leg=1,
        raw="2026/11/22 12:00:00,00:02:55,5,+15551234567,I,5550100,5550100,,,1000123,0,E201,"
            "Agent 201,T9001,Line 1.1,0,0,,,,,,,,,,")


def make_pki(directory: Path) -> TestPki:
    paths = init_pki(directory, SITE)
    return TestPki(dir=paths.dir, ca=paths.ca.cert, central_cert=paths.central.cert,
                   central_key=paths.central.key, sites={SITE: paths.site})


def sync_config(pki: TestPki, *endpoints: str, **overrides) -> CentralConfig:
    values = dict(endpoints=tuple(endpoints), ca_file=str(pki.ca), cert_file=str(pki.sites[SITE].cert),
                  key_file=str(pki.sites[SITE].key))
    values.update(overrides)
    return CentralConfig(**values)


def central_count(central: CentralProcess) -> int:
    import sqlite3
    with sqlite3.connect(f"file:{central.db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LoopLag:
    """Measures how late a 10 ms ticker on the event loop wakes: what a device handler would feel."""

    def __init__(self):
        self.lags: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.lags.append(max(0.0, loop.time() - due))

    def summary(self) -> str:
        if not self.lags:
            return "n/a"
        return f"p99 {pct(self.lags, 0.99) * 1000:.1f} ms, max {max(self.lags) * 1000:.1f} ms"


# ---- child processes: fill a store, drain it -------------------------------------------------

def child_fill(data_dir: str, n: int) -> None:
    started = time.perf_counter()
    from appliance.sync.convert import record_bytes
    with Store(data_dir, site_id=SITE) as store:
        for start in range(0, n, 10_000):     # as the daemon stores them: wire bytes encoded once
            store.add([call_record(i) for i in range(start, min(n, start + 10_000))], serialize=record_bytes)
    print(json.dumps({"seconds": time.perf_counter() - started}))


def child_drain(spec: dict) -> None:
    """Run a SyncClient until `n` records are acked; sample our own RSS; print a JSON result."""
    import psutil
    pki = TestPki(dir=Path(spec["pki_dir"]), ca=Path(spec["ca"]), central_cert=Path(), central_key=Path(),
                  sites={SITE: _cert_paths(spec)})
    config = sync_config(pki, spec["endpoint"], batch_size=spec["batch_size"],
                         max_in_flight_batches=spec["window"], ack_timeout_s=30.0)
    me = psutil.Process()
    rss: list[tuple[int, int]] = []          # (acked so far, bytes)

    async def main() -> dict:
        client = SyncClient(config, lambda: Store(spec["data"], site_id=SITE, check=False, cache_kib=2048), SITE)
        lag = LoopLag()
        tasks = [asyncio.create_task(client.run()), asyncio.create_task(lag.run())]
        started = time.perf_counter()
        while client.status()["acked_total"] < spec["n"]:
            await asyncio.sleep(0.1)
            rss.append((client.status()["acked_total"], me.memory_info().rss))
            if time.perf_counter() - started > spec["timeout_s"]:
                break
        seconds = time.perf_counter() - started
        status = client.status()
        await client.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"seconds": seconds, "acked": status["acked_total"], "batches": status["batches_sent"],
                "sessions": status["sessions"], "last_error": status["last_error"],
                "loop_lag": lag.summary(), "rss": rss, "cpu_s": sum(me.cpu_times()[:2])}

    print(json.dumps(asyncio.run(main())))


def _cert_paths(spec: dict):
    from appliance.ops.pki import CertPaths
    return CertPaths(Path(spec["cert"]), Path(spec["key"]))


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def drain(pki: TestPki, workdir: Path, name: str, n: int, batch_size: int, window: int,
          extra_central_args: tuple[str, ...] = ()) -> tuple[dict, int]:
    data = workdir / f"{name}-data"
    fill = run_child("_fill", str(data), str(n))
    print(f"  filled {n:,} records in {fill['seconds']:.1f} s")
    with CentralProcess(workdir / f"{name}-central.db", pki=pki, extra_args=extra_central_args) as central:
        spec = {"pki_dir": str(pki.dir), "ca": str(pki.ca), "cert": str(pki.sites[SITE].cert),
                "key": str(pki.sites[SITE].key), "endpoint": central.address, "data": str(data),
                "n": n, "batch_size": batch_size, "window": window, "timeout_s": 900}
        result = run_child("_drain", json.dumps(spec))
        stored = central_count(central)
        import psutil
        result["central_cpu_s"] = sum(psutil.Process(central.proc.pid).cpu_times()[:2])
    return result, stored


# ---- (a) and (b) -----------------------------------------------------------------------------

def bench_throughput(pki: TestPki, workdir: Path, n: int, n_unary: int, only: str) -> None:
    rate_batched = None
    if "a" in only:
        batch = CentralConfig().batch_size
        print(f"(a) drain a backlog of {n:,} CDRs, batch {batch}, window 4, mTLS, durable both sides")
        result, stored = drain(pki, workdir, "a", n, batch, 4)
        rate_batched = result["acked"] / result["seconds"]
        samples = result["rss"]
        mb = [b / 2**20 for _, b in samples]
        at = [f"{_rss_at(samples, q * n):.0f}" for q in (0.1, 0.5, 0.9)]
        print(f"  {result['acked']:,} acked in {result['seconds']:.1f} s = {rate_batched:,.0f} CDR/s "
              f"(target >= 50,000); central stored {stored:,}")
        print(f"  client RSS: max {max(mb):.0f} MB (target <= 80), at 10/50/90% of the drain "
              f"{'/'.join(at)} MB")
        print(f"  event-loop lag during the drain: {result['loop_lag']}; sessions {result['sessions']}")
        print(f"  CPU: client {result['cpu_s']:.1f} s, central {result['central_cpu_s']:.1f} s "
              f"({os.cpu_count()} CPUs shared by both)")
    if "b" in only:
        print(f"(b) one record per message, one in flight (Sync stream, batch size 1), {n_unary:,} CDRs")
        result, stored = drain(pki, workdir, "b", n_unary, 1, 1)
        rate_single = result["acked"] / result["seconds"]
        print(f"  {result['acked']:,} acked in {result['seconds']:.1f} s = {rate_single:,.0f} CDR/s")
        if rate_batched:
            print(f"  batched / one-per-call ratio: {rate_batched / rate_single:,.0f}x (target >= 30x)")


def _rss_at(samples: list[tuple[int, int]], acked: float) -> float:
    for done, rss in samples:
        if done >= acked:
            return rss / 2**20
    return samples[-1][1] / 2**20


# ---- (c) and (d): the daemon's path on one loop ------------------------------------------------

class TimedStore(Store):
    """A real Store that notes when each record's delivery became durable (for latency only)."""
    delivered_at: dict[int, float] = {}

    def mark_delivered(self, cdr_ids):
        done = super().mark_delivered(cdr_ids)
        now = time.monotonic()
        for cdr_id in cdr_ids:
            TimedStore.delivered_at.setdefault(cdr_id, now)
        return done


class Traffic:
    """Finished calls at a steady rate through the daemon's StoreWriter; wake() once durable."""

    def __init__(self, data: Path, client: SyncClient, rate: float):
        self.writer = StoreWriter(lambda: Store(data, site_id=SITE, check=False), name="bench-writer")
        self.client = client
        self.rate = rate
        self.submitted_at: dict[int, float] = {}
        self.count = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            self.count += 1
            ended = time.monotonic()

            def durable(result, ended=ended):
                loop.call_soon_threadsafe(self._durable, result.inserted, ended)
            self.writer.submit([call_record(10_000_000 + self.count)], on_durable=durable)
            await asyncio.sleep(max(0.0, start + self.count / self.rate - loop.time()))

    def _durable(self, ids: list[int], ended: float) -> None:
        for cdr_id in ids:
            self.submitted_at[cdr_id] = ended
        self.client.wake()

    def latencies(self, since: float = 0.0) -> list[float]:
        return [TimedStore.delivered_at[i] - t for i, t in self.submitted_at.items()
                if i in TimedStore.delivered_at and t >= since]


async def bench_live(pki: TestPki, workdir: Path, args, only: str) -> None:
    primary = CentralProcess(workdir / "live-primary.db", pki=pki)
    standby = CentralProcess(workdir / "live-standby.db", pki=pki)
    await asyncio.to_thread(primary.start)
    await asyncio.to_thread(standby.start)
    try:
        if "c" in only:
            # Straight to the primary: the test proxy is a Python thread in this process and would
            # add its own GIL-bound delay to every message.
            await bench_latency(pki, workdir / "latency-data", primary, args)
        if "d" in only:
            await bench_failover(pki, workdir / "failover-data", primary, standby, args)
    finally:
        primary.close()
        standby.close()


class LiveClient:
    """A SyncClient plus steady traffic and a loop-lag probe on the running loop."""

    def __init__(self, config: CentralConfig, data: Path, rate: float):
        Store(data, site_id=SITE).close()
        self.client = SyncClient(config, lambda: TimedStore(data, site_id=SITE, check=False), SITE)
        self.traffic = Traffic(data, self.client, rate)
        self.lag = LoopLag()
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> "LiveClient":
        self.tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self.traffic.run()),
                      asyncio.create_task(self.lag.run())]
        await wait(lambda: self.client.status()["connected"], 10)
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self.tasks[1:]:
            task.cancel()
        await self.client.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.to_thread(self.traffic.writer.close)


async def bench_latency(pki: TestPki, data: Path, primary: CentralProcess, args) -> None:
    print(f"(c) call end -> central ack (durable both sides) at {args.rate:g} calls/s for {args.latency_s:g} s")
    async with LiveClient(sync_config(pki, primary.address), data, args.rate) as live:
        since = time.monotonic()
        await asyncio.sleep(args.latency_s)
        await asyncio.sleep(1.0)                     # let the last calls land
        lat = [x * 1000 for x in live.traffic.latencies(since)]
        print(f"  {len(lat)} calls: p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
              f"max {max(lat):.1f} ms (target p99 <= 100 ms); loop lag {live.lag.summary()}")


async def bench_failover(pki: TestPki, data: Path, primary: CentralProcess, standby: CentralProcess,
                         args) -> None:
    print(f"(d) failover / failback with traffic at {args.rate:g} calls/s "
          f"(failback_after_s = {args.failback_after_s:g}, probes every 2 s as shipped)")
    proxy = TcpProxy(primary.address, name="bench-proxy").start()
    config = sync_config(pki, proxy.address, standby.address, failback_after=args.failback_after_s)
    try:
        async with LiveClient(config, data, args.rate) as live:
            client = live.client
            t = await failover(client, standby, primary.kill9)
            print(f"  primary killed (kill -9): acks from the standby after {t:.2f} s (target <= 2 s)")
            await asyncio.to_thread(primary.start)
            t = await failback(client, proxy)
            print(f"  primary back and healthy: failed back after {t:.2f} s")
            t = await failover(client, standby, proxy.blackhole)
            print(f"  primary black-holed: acks from the standby after {t:.2f} s (target <= 5 s)")
            proxy.resume()
            t = await failback(client, proxy)
            print(f"  black hole healed: failed back after {t:.2f} s")
    finally:
        proxy.close()


async def wait(condition, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError("bench: condition not reached")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def failover(client: SyncClient, standby: CentralProcess, fault) -> float:
    started = time.monotonic()
    await asyncio.to_thread(fault)
    await wait(lambda: client.status()["active_endpoint"] == standby.address
               and client.status()["connected"], 30)
    acked = client.status()["acked_total"]
    await wait(lambda: client.status()["acked_total"] > acked, 10)
    return time.monotonic() - started


async def failback(client: SyncClient, proxy: TcpProxy) -> float:
    started = time.monotonic()
    await wait(lambda: client.status()["active_endpoint"] == proxy.address
               and client.status()["connected"], 120)
    return time.monotonic() - started


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_fill":
        child_fill(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_drain":
        child_drain(json.loads(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="backlog size for (a)")
    parser.add_argument("--n-unary", type=int, default=20_000, help="records for (b)")
    parser.add_argument("--latency-s", type=float, default=30.0, help="duration of (c)")
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second for (c) and (d)")
    parser.add_argument("--failback-after-s", type=float, default=5.0, help="failback_after_s for (d)")
    parser.add_argument("--only", default="abcd", help="which parts to run, e.g. 'cd'")
    parser.add_argument("--workdir", help="keep the files here (default: a temporary directory, removed)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-sync-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        pki = make_pki(workdir / "pki")
        print(f"bench_sync: {os.cpu_count()} CPUs, files in {workdir}")
        if set("ab") & set(args.only):
            bench_throughput(pki, workdir, args.n, args.n_unary, args.only)
        if set("cd") & set(args.only):
            asyncio.run(bench_live(pki, workdir, args, args.only))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
