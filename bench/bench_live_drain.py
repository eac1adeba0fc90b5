"""Benchmark (not a test): screen-pop latency at the central while another site drains a backlog.

One SQLite central (mTLS). Site B publishes a live call event every 10 ms (appliance.sync.publisher,
as the daemon does); its ack latency (the event stored and fanned out) is measured first with the
central idle, then while site A's sync drains N stored records into the same central. Prints the
latency percentiles of both phases and the drain rate for each run, and their medians; asserts nothing.

    .venv/bin/python bench/bench_live_drain.py --records 300000 --runs 3
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.sync.config import CentralConfig  # noqa: E402
from appliance.sync.publisher import LivePublisher  # noqa: E402
from appliance.v1 import live_pb2  # noqa: E402
from tests.helpers.central_proc import CentralProcess, make_pki  # noqa: E402
from tests.helpers.sync_harness import ClientThread, fill_store, mtls_config  # noqa: E402


def percentiles(latencies: list[float]) -> dict:
    lat = sorted(latencies)
    if not lat:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"n": len(lat), "p50": statistics.median(lat) * 1000, "p99": lat[int(len(lat) * 0.99)] * 1000,
            "max": lat[-1] * 1000}


async def measure(pki, central: CentralProcess, data: Path, n: int) -> dict:
    site = pki.sites["site-b"]
    config = CentralConfig(endpoints=(central.address,), ca_file=str(pki.ca), cert_file=str(site.cert),
                           key_file=str(site.key))
    publisher = LivePublisher(config, "site-b", lambda: live_pb2.SiteSnapshot())
    running = asyncio.create_task(publisher.run())
    seq = 0

    async def publish_for(seconds: float) -> None:
        nonlocal seq
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seq += 1
            publisher.call(live_pb2.CallEvent(call_key=f"bench-{seq}", seq=seq, type=live_pb2.CALL_RINGING,
                                              queue="sales"))
            await asyncio.sleep(0.01)          # the pace of the events, not a wait for a result

    try:
        while not publisher.connected:
            await asyncio.sleep(0.05)
        await publish_for(2.0)
        while publisher.acked < publisher.sent:
            await asyncio.sleep(0.01)
        idle = percentiles(list(publisher.latencies))
        publisher.latencies.clear()
        sync = ClientThread(mtls_config(pki, central.address), data, site_id="site-a")
        sync.__enter__()
        started = time.monotonic()
        try:
            while sync.status()["acked_total"] < n:
                await publish_for(0.25)
            drained = time.monotonic() - started
        finally:
            sync.__exit__(None, None, None)
        while publisher.acked < publisher.sent:
            await asyncio.sleep(0.01)
        return {"idle": idle, "drain": percentiles(list(publisher.latencies)), "rate": n / drained}
    finally:
        await publisher.stop()
        await running


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=300_000, help="site A's backlog")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for index in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="bench-live-drain-"))
        try:
            pki = make_pki(work / "pki", "site-a", extra_sites=("site-b",))
            fill_store(work / "data", args.records)
            with CentralProcess(work / "central.db", pki=pki) as central:
                r = asyncio.run(measure(pki, central, work / "data", args.records))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(r)
        print(f"  run {index + 1}: live event acks idle p50 {r['idle']['p50']:.1f} / p99 {r['idle']['p99']:.1f} / "
              f"max {r['idle']['max']:.1f} ms; during the drain ({r['rate']:,.0f} CDR/s) p50 "
              f"{r['drain']['p50']:.1f} / p99 {r['drain']['p99']:.1f} / max {r['drain']['max']:.1f} ms "
              f"({r['drain']['n']} events)", flush=True)
    med = {phase: {k: statistics.median(r[phase][k] for r in runs) for k in ("p50", "p99", "max")}
           for phase in ("idle", "drain")}
    print(f"  median of {len(runs)}: idle p99 {med['idle']['p99']:.1f} ms; during a "
          f"{statistics.median(r['rate'] for r in runs):,.0f} CDR/s drain p50 {med['drain']['p50']:.1f} / "
          f"p99 {med['drain']['p99']:.1f} / max {med['drain']['max']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
