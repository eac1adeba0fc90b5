"""The store writer: one named thread that owns a Store and commits everything queued, in batches."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Sequence

from appliance.calls.record import CallRecord
from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.store.errors import StoreError
from appliance.store.records import AddResult, RejectedRaw
from appliance.store.rows import Serialize
from appliance.store.store import Store

log = logging.getLogger("appliance.store")


@dataclass(slots=True)
class _Job:
    records: tuple[CallRecord, ...]
    rejected: tuple[RejectedRaw, ...]
    on_durable: Callable[[AddResult], None] | None

    @property
    def size(self) -> int:
        return len(self.records) + len(self.rejected)


@dataclass(slots=True)
class _Call:
    fn: Callable[[Store], object]
    future: Future


class StoreWriter:
    """A named background thread that owns a Store and commits whatever is queued, in batches.

    Nothing submitted is dropped: when SQLite fails (disk full, I/O error) the batch stays queued,
    one ERROR line is logged per outage, `errors` counts attempts, `healthy` turns False, and the
    writer retries with a doubling delay (capped), reopening the store each time.

    Memory is bounded: `submit` BLOCKS the caller while more than `max_pending` records are
    waiting; with `timeout` it gives up after that long and returns False (nothing queued).
    `retry_now()` cuts a retry delay short (space was just freed); `on_error` runs on the writer
    thread for every failed attempt, so the daemon can pause input at the first one.

    `last_progress` (time.monotonic) moves on every commit, every idle check and every retry
    attempt, i.e. while the thread is alive and not stuck inside SQLite; `last_commit` moves
    only on commits. A watchdog that must not restart the daemon during a disk-full outage (which
    would lose the queue) watches `last_progress`, and alarms on `healthy`.

    `serialize` (appliance.sync.convert.record_bytes, injected) encodes each record for the
    central once, here, so the sync sends the stored bytes as they are.

    `call(fn)` runs other writes of the same database (the sync's acks) on this thread, between
    two batches: SQLite lets one connection write at a time, and another connection waiting in
    its busy handler loses every time to a writer that commits back to back, so during a long
    ingest the acks would wait until the ingest pauses.
    """

    IDLE_CHECK_S = 1.0

    def __init__(self, store_factory: Callable[[], Store], *, max_batch: int = 2000,
                 on_error: Callable[[BaseException], None] | None = None, max_pending: int = 100_000,
                 retry: BackoffPolicy = BackoffPolicy(base_s=0.5, cap_s=30.0), name: str = "store-writer",
                 clock: Callable[[], float] = time.monotonic, serialize: Serialize | None = None):
        self._factory = store_factory
        self._serialize = serialize
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._on_error = on_error
        self._retry = Backoff(retry)
        self._clock = clock
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._calls: deque[_Call] = deque()
        self._waiting = 0          # records + rejected rows submitted and not yet durable
        self._waiting_records = 0  # of which call records
        self._submitted = 0        # jobs
        self._finished = 0         # jobs durable and called back
        self._closing = False
        self._retry_wakeup = threading.Event()
        self.errors = 0
        self.transactions = 0
        self.records_inserted = 0
        self.duplicates = 0
        self._failing = False
        self.last_error: str = ""
        self.last_progress = clock()
        self.last_commit: float | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- caller side --------------------------------------------------------------------

    def submit(self, records: Sequence[CallRecord], rejected: Sequence[RejectedRaw] = (),
               on_durable: Callable[[AddResult], None] | None = None, *,
               timeout: float | None = None, force: bool = False) -> bool:
        """Queue records for the next transaction; `on_durable(result)` runs on the writer thread
        after COMMIT. Blocks while the queue is full (see the class docstring); `force` queues past
        `max_pending` (at shutdown: the records are in memory already, queued they get committed)."""
        job = _Job(tuple(records), tuple(rejected), on_durable)
        for r in job.records:
            if not isinstance(r, CallRecord):
                raise TypeError(f"submit() takes CallRecord, not {type(r).__name__}")
        for r in job.rejected:
            if not isinstance(r, RejectedRaw):
                raise TypeError(f"submit() takes RejectedRaw for rejected, not {type(r).__name__}")
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            if self._closing:
                raise StoreError("store writer is closed")
            while not force and self._waiting and self._waiting + job.size > self.max_pending:
                remaining = None if deadline is None else deadline - self._clock()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
                if self._closing:
                    raise StoreError("store writer is closed")
            self._jobs.append(job)
            self._waiting += job.size
            self._waiting_records += len(job.records)
            self._submitted += 1
            self._cond.notify_all()
        return True

    def call(self, fn: Callable[[Store], object], timeout: float | None = 60.0):
        """Run `fn(store)` on the writer thread before its next batch (calls run in order) and
        return what it returns, or raise what it raises. Raises StoreError when the writer is
        closed, and TimeoutError after `timeout` (the call may still run later: make it idempotent).
        A call does not wait out the back-off of a failing batch; it runs at once and may fail too."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("call() from the writer thread (an on_durable callback)")
        call = _Call(fn, Future())
        with self._cond:
            if self._closing or not self._thread.is_alive():
                raise StoreError("store writer is closed")
            self._calls.append(call)
            self._cond.notify_all()
        self._retry_wakeup.set()
        return call.future.result(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is durable and called back. False on timeout."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() called from the writer thread (an on_durable callback)")
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._finished >= target or not self._thread.is_alive(),
                                       timeout) and self._finished >= target

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush (up to `timeout`), then stop the thread. Returns True if nothing was left behind."""
        flushed = self.flush(timeout) if self._thread.is_alive() else False
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._retry_wakeup.set()
        self._thread.join(timeout)
        left = self.queue_depth
        if left:
            log.error("store writer closed with %d record(s) and %d unparseable input(s) not made "
                      "durable: %s", self.records_waiting, left - self.records_waiting,
                      self.last_error or "timed out")
        return flushed and not left

    def retry_now(self) -> None:
        """Retry a failed batch at once instead of after the back-off delay (any thread)."""
        self._retry_wakeup.set()

    @property
    def records_waiting(self) -> int:
        """Call records submitted and not yet durable (queue_depth also counts rejected input)."""
        return self._waiting_records

    @property
    def queue_depth(self) -> int:
        return self._waiting

    @property
    def healthy(self) -> bool:
        return not self._failing and (self._thread.is_alive() or self._closing)

    def status(self) -> dict:
        return {"healthy": self.healthy, "queue_depth": self.queue_depth, "calls_waiting": len(self._calls),
                "errors": self.errors,
                "last_error": self.last_error, "transactions": self.transactions,
                "records_inserted": self.records_inserted, "duplicates": self.duplicates,
                "since_progress_s": round(self._clock() - self.last_progress, 3)}

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writer thread ------------------------------------------------------------------

    def _take_batch(self) -> list[_Job] | None:
        """Jobs for the next transaction, or None when closing with nothing left."""
        with self._cond:
            while not self._jobs and not self._calls:
                if self._closing:
                    return None
                self.last_progress = self._clock()
                self._cond.wait(self.IDLE_CHECK_S)
            batch, n = [], 0
            while self._jobs and (not batch or n + len(self._jobs[0].records) <= self.max_batch):
                job = self._jobs.popleft()
                batch.append(job)
                n += len(job.records)
            return batch

    def _run(self) -> None:
        store: Store | None = None
        batch: list[_Job] | None = None
        try:
            while True:
                if batch is None:
                    batch = self._take_batch()
                    if batch is None:
                        return
                try:
                    if store is None:
                        store = self._factory()
                    self._run_calls(store)
                    if not batch:            # only calls were waiting
                        batch = None
                        continue
                    results = store.add_many([(j.records, j.rejected) for j in batch],
                                             serialize=self._serialize)
                except Exception as exc:   # noqa: BLE001 - any failure keeps the batch queued
                    if store is None:
                        self._fail_calls(exc)
                    if not batch:
                        batch = None
                        continue
                    self._failed(exc, store, batch)
                    store = None
                    if self._closing:
                        return
                    self._retry_wakeup.wait(self._retry.next())
                    if not self._closing:
                        self._retry_wakeup.clear()
                    continue
                self._committed(batch, results)
                batch = None
                self._retry.reset()
        finally:
            if batch:   # put an unwritten batch back so queue_depth and close() report it
                with self._cond:
                    self._jobs.extendleft(reversed(batch))
            self._fail_calls(StoreError("store writer is closed"))
            if store is not None:
                store.close()

    def _run_calls(self, store: Store) -> None:
        while True:
            with self._cond:
                if not self._calls:
                    return
                call = self._calls.popleft()
            if not call.future.set_running_or_notify_cancel():
                continue
            try:
                call.future.set_result(call.fn(store))
            except BaseException as exc:   # noqa: BLE001 - the caller gets it, the writer goes on
                call.future.set_exception(exc)

    def _fail_calls(self, exc: BaseException) -> None:
        with self._cond:
            calls, self._calls = list(self._calls), deque()
        for call in calls:
            if call.future.set_running_or_notify_cancel():
                call.future.set_exception(exc)

    def _failed(self, exc: Exception, store: Store | None, batch: list[_Job]) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.last_progress = self._clock()
        if not self._failing:
            self._failing = True
            log.error("store writer: cannot write %d record(s): %s; keeping them queued and retrying",
                      sum(len(j.records) for j in batch), self.last_error)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:   # noqa: BLE001 - a broken hook must not stop the writer
                log.exception("store writer: on_error hook failed")
        if store is not None:
            try:
                store.close()
            except sqlite3.Error:
                pass

    def _committed(self, batch: list[_Job], results: list[AddResult]) -> None:
        now = self._clock()
        self.last_progress = self.last_commit = now
        self.transactions += 1
        if self._failing:
            self._failing = False
            log.warning("store writer: writing again after %d failed attempt(s)", self.errors)
        for job, result in zip(batch, results):
            self.records_inserted += len(result.inserted)
            self.duplicates += result.duplicates
            if job.on_durable is not None:
                try:
                    job.on_durable(result)
                except Exception:   # noqa: BLE001 - a caller's callback must not stop the writer
                    log.exception("store writer: on_durable callback failed")
        with self._cond:
            self._waiting -= sum(j.size for j in batch)
            self._waiting_records -= sum(len(j.records) for j in batch)
            self._finished += len(batch)
            self._cond.notify_all()
