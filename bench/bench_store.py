"""Store throughput: rows/s through StoreWriter by submit size, the sync-side drain, and open/check time."""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from appliance.calls.record import CallRecord
from appliance.store import Store
from appliance.store import StoreWriter


def make_records(start: int, n: int) -> list[CallRecord]:
    return [CallRecord(
        key=f"bench/pbx1/{i:010d}", site_id="bench", source="pbx1", source_kind="avaya-ipo",
        direction="inbound", caller=f"+4420{i % 10**8:08d}", callee="4300", dialled_number="4300",
        queue="sales", agent=str(4201 + i % 40), started_at="2026-01-05T09:00:00Z",
        answered_at="2026-01-05T09:00:07Z", ended_at="2026-01-05T09:03:00Z", ring_s=7, talk_s=173,
        hold_s=0, disposition="answered", pbx_call_id=str(1000000000 + i), leg=1,
        raw=f"2026/01/05 09:00:00,00:02:53,7,+4420{i:08d},I,4300,4300,,0,{1000000000 + i},0,E4201,Agent,"
            f"T9002,LINE 1.2,0,0") for i in range(start, start + n)]


def bench_writer(data_dir: Path, total: int, submit_size: int, max_batch: int) -> None:
    store_dir = data_dir / f"w{submit_size}-{max_batch}"
    Store(store_dir, site_id="bench").close()
    records = make_records(0, total)
    durable = threading.Event()
    done = [0]

    def on_durable(result):
        done[0] += len(result.inserted)
        if done[0] >= total:
            durable.set()

    writer = StoreWriter(lambda: Store(store_dir, site_id="bench", check=False), max_batch=max_batch)
    t0 = time.perf_counter()
    for i in range(0, total, submit_size):
        writer.submit(records[i:i + submit_size], on_durable=on_durable)
    durable.wait(600)
    elapsed = time.perf_counter() - t0
    tx = writer.transactions
    writer.close(30)
    print(f"writer  submit={submit_size:>5} max_batch={max_batch:>5}: {total / elapsed:>9,.0f} rows/s "
          f"({total} rows, {tx} transactions, {elapsed:.2f} s)")


def bench_commit_latency(data_dir: Path, n: int) -> None:
    """One record per transaction, waiting for each: the fsync-bound worst case."""
    store_dir = data_dir / "latency"
    Store(store_dir, site_id="bench").close()
    writer = StoreWriter(lambda: Store(store_dir, site_id="bench", check=False))
    lat = []
    for rec in make_records(0, n):
        t0 = time.perf_counter()
        writer.submit([rec])
        writer.flush(30)
        lat.append(time.perf_counter() - t0)
    writer.close(30)
    lat.sort()
    print(f"commit  one record, waited for: median {lat[n // 2] * 1000:.2f} ms, "
          f"p99 {lat[int(n * 0.99)] * 1000:.2f} ms ({n / sum(lat):,.0f} rows/s)")


def bench_drain(data_dir: Path, total: int, page: int) -> None:
    store_dir = data_dir / "drain"
    with Store(store_dir, site_id="bench") as s:
        for i in range(0, total, 5000):
            s.add(make_records(i, min(5000, total - i)))
        t0 = time.perf_counter()
        after = 0
        while batch := s.pending(after_id=after, limit=page):
            s.mark_delivered([i for i, _ in batch])
            after = batch[-1][0]
        elapsed = time.perf_counter() - t0
    print(f"drain   page={page:>5}: {total / elapsed:>9,.0f} rows/s (pending + mark_delivered)")


def bench_open(data_dir: Path) -> None:
    for d in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        size = sum(f.stat().st_size for f in d.iterdir()) / 1e6
        t0 = time.perf_counter()
        Store(d, site_id="bench").close()           # quick_check + migrations
        checked = time.perf_counter() - t0
        t0 = time.perf_counter()
        with Store(d, site_id="bench", check=False) as s:
            t1 = time.perf_counter()
            stats = s.stats()
            t2 = time.perf_counter()
        print(f"open    {d.name:>14} {size:7.1f} MB: check {checked * 1000:7.1f} ms, "
              f"secondary open {(t1 - t0) * 1000:5.1f} ms, stats() {(t2 - t1) * 1000:6.1f} ms "
              f"({stats['stored']} rows)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=50_000)
    p.add_argument("--dir", help="where to put the databases (default: a temporary directory)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        data_dir = Path(tmp)
        print(f"store benchmark: {args.records} records per run, databases under {data_dir}")
        for submit_size, max_batch in ((1, 2000), (10, 2000), (100, 2000), (1000, 2000), (100, 100)):
            total = min(args.records, 5000) if submit_size == 1 else args.records
            bench_writer(data_dir, total, submit_size, max_batch)
        bench_commit_latency(data_dir, 500)
        bench_drain(data_dir, args.records, 500)
        bench_open(data_dir)


if __name__ == "__main__":
    main()
