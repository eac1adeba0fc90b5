"""Benchmark: does a large recording upload slow CDR sync? Real central over mTLS, the daemon's one loop.

Prints figures; asserts nothing. Usage:
    .venv/bin/python bench/bench_uploads.py [--n 100000] [--upload-mb 200] [--segment-mb 10]
For each scenario a fresh central and site store: the recorded calls' records are delivered first, then
N plain records are added and drained by the SyncClient (batch 500, window 4) while the UploadClient
(on the same event loop, as in the daemon) uploads `--upload-mb` of segments:
(a) no upload; (b) uploads as shipped (2 at a time, paced to 4 MiB/s); (c) unpaced (the worst case).
Figures: CDR/s of the drain, upload MB/s during it, event-loop lag (a 10 ms ticker's lateness).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.audio.segments import segment_name  # noqa: E402
from appliance.calls.record import Recording, RecordingSegment  # noqa: E402
from appliance.store import Store  # noqa: E402
from appliance.sync import SyncClient  # noqa: E402
from appliance.sync.uploads import UploadClient  # noqa: E402
from bench.bench_sync import SITE, LoopLag, call_record, make_pki, sync_config  # noqa: E402
from tests.helpers.central_proc import CentralProcess  # noqa: E402


def recorded_calls(directory: Path, total_mb: int, segment_mb: int) -> list:
    """Calls of one segment each, `segment_mb` of random bytes (the central checks size and SHA-256 only)."""
    directory.mkdir(parents=True, exist_ok=True)
    calls = []
    for i in range((total_mb + segment_mb - 1) // segment_mb):
        key = f"{SITE}-rec-{i:06d}"
        data = os.urandom(segment_mb << 20)
        name = segment_name(key, 0)
        (directory / name).write_bytes(data)
        seg = RecordingSegment(0, name, hashlib.sha256(data).hexdigest(), len(data), 0, len(data) // 4)
        calls.append(dataclasses.replace(call_record(50_000_000 + i), key=key, recording=Recording(
            status="recorded", sample_rate=8000, segments=(seg,))))
    return calls


async def until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def scenario(name: str, pki, workdir: Path, n: int, upload_mb: int, segment_mb: int,
                   bytes_per_s: float | None) -> None:
    slug = name[1]
    data = workdir / f"{slug}-data"
    factory = (lambda: Store(data, site_id=SITE, check=False, cache_kib=2048))
    calls = recorded_calls(data / "recordings", upload_mb, segment_mb) if bytes_per_s else []
    with Store(data, site_id=SITE) as store:
        store.add(calls)
    (workdir / f"{slug}-central").mkdir()          # each central's recordings beside its own database
    central = CentralProcess(workdir / f"{slug}-central" / "central.db", pki=pki)
    await asyncio.to_thread(central.start)
    config = sync_config(pki, central.address, ack_timeout_s=30.0)
    lag = LoopLag()
    ticker = asyncio.create_task(lag.run())
    uploads = None
    tasks = []
    try:
        if calls:
            first = SyncClient(config, factory, SITE)
            task = asyncio.create_task(first.run())
            await until(lambda: first.status()["acked_total"] == len(calls), 60)
            await first.stop()
            await task
        with Store(data, site_id=SITE) as store:
            for start in range(0, n, 10_000):
                store.add([call_record(i) for i in range(start, min(n, start + 10_000))])
        if calls:
            uploads = UploadClient(config, factory, SITE, data / "recordings", bytes_per_s=bytes_per_s)
            tasks.append(asyncio.create_task(uploads.run()))
            await until(lambda: uploads.status()["bytes_sent_total"] > 0, 30)
        sent_before = uploads.status()["bytes_sent_total"] if uploads else 0
        lag.lags.clear()
        sync = SyncClient(config, factory, SITE)
        started = time.perf_counter()
        tasks.append(asyncio.create_task(sync.run()))
        await until(lambda: sync.status()["acked_total"] >= n, 900)
        seconds = time.perf_counter() - started
        acked = sync.status()["acked_total"]
        sent = (uploads.status()["bytes_sent_total"] - sent_before) if uploads else 0
        busy = uploads is not None and uploads.status()["uploading"] > 0
        print(f"  {name}: {acked:,} CDRs in {seconds:.2f} s = {acked / seconds:,.0f} CDR/s; "
              f"uploaded during the drain {sent / 2**20:.1f} MiB = {sent / 2**20 / seconds:.1f} MiB/s"
              f"{' (still uploading at the end)' if busy else ''}; loop lag {lag.summary()}")
        await sync.stop()
        if uploads:
            await uploads.stop()
    finally:
        ticker.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(ticker, *tasks, return_exceptions=True)
        await asyncio.to_thread(central.close)
        shutil.rmtree(data, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="CDRs to drain per scenario")
    parser.add_argument("--upload-mb", type=int, default=200, help="recordings to upload meanwhile")
    parser.add_argument("--segment-mb", type=int, default=10, help="size of each segment")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    try:
        pki = make_pki(workdir / "pki")
        print(f"CDR sync drain of {args.n:,} records with {args.upload_mb} MiB of recordings uploading "
              f"({args.segment_mb} MiB segments), mTLS, durable on both sides, {os.cpu_count()} CPUs")
        await scenario("(a) no upload", pki, workdir, args.n, args.upload_mb, args.segment_mb, None)
        await scenario("(b) uploads as shipped (4 MiB/s)", pki, workdir, args.n, args.upload_mb,
                       args.segment_mb, 4 * 2**20)
        await scenario("(c) uploads unpaced", pki, workdir, args.n, args.upload_mb, args.segment_mb, 2**40)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
