"""Record batches to the database with group commit: writer threads store every batch waiting in one transaction."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
from dataclasses import dataclass
from typing import NamedTuple

import grpc
from google.protobuf.message import DecodeError

from appliance.central.store import RecordBatch, StoreUnavailable
from appliance.central.validate import CentralPolicy, validate_batch
from appliance.central.wire import WireError, acks_response_bytes, batch_record_bytes
from appliance.ops.masking import mask_text
from appliance.v1 import sync_pb2

log = logging.getLogger("appliance.central")

MAX_GROUP_BYTES = 4 << 20   # batches one transaction takes from the queue (at least one, whatever its size)
_STORED, _DUPLICATE, _REJECTED = sync_pb2.STORED, sync_pb2.DUPLICATE, sync_pb2.REJECTED
_STOP = object()


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Counters:
    batches: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, other: "Counters") -> None:
        self.batches += other.batches
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.rejected += other.rejected


class BatchOutcome(NamedTuple):
    response: bytes                     # serialized SyncResponse (b"" with a protocol error)
    counts: Counters
    first_reject: str = ""              # "key: reason" of the first rejected record, for the log
    error: tuple[grpc.StatusCode, str] | None = None


class Prepared(NamedTuple):
    batch_id: int
    keys: tuple[str, ...]
    reasons: list[str] | None           # None: every record valid
    valid: RecordBatch


def prepare(site_id: str, policy: CentralPolicy, raw: bytes) -> Prepared | BatchOutcome:
    """Parse and validate one serialized SyncRequest; the records to store are its own wire bytes, sliced
    out of the request, never re-serialised. A protocol error comes back as a BatchOutcome."""
    try:
        request = sync_pb2.SyncRequest.FromString(raw)
    except DecodeError as exc:
        return BatchOutcome(b"", Counters(), error=(grpc.StatusCode.INVALID_ARGUMENT, f"undecodable SyncRequest: {exc}"))
    if request.WhichOneof("body") != "batch":
        return BatchOutcome(b"", Counters(), error=(grpc.StatusCode.FAILED_PRECONDITION,
                                                    "after Hello a Sync stream carries only CdrBatch messages"))
    records = request.batch.records
    verdict = validate_batch(records, site_id, policy)
    try:
        payloads = batch_record_bytes(raw)
    except WireError:
        payloads = []
    if len(payloads) != len(records):
        payloads = [rec.SerializeToString() for rec in records]
    keys, reasons = verdict.keys, verdict.reasons
    if reasons is None:
        valid = RecordBatch(keys, verdict.started_at, payloads)
    else:
        ok = [i for i, reason in enumerate(reasons) if not reason]
        valid = RecordBatch([keys[i] for i in ok], [verdict.started_at[i] for i in ok], [payloads[i] for i in ok])
    return Prepared(request.batch.batch_id, keys, reasons, valid)


def finish(prepared: Prepared, is_new: list[bool]) -> BatchOutcome:
    """The SyncResponse: one ack per record, in record order, once the batch is committed."""
    if prepared.reasons is None:
        duplicates = is_new.count(False)
        counts = Counters(batches=1, stored=len(is_new) - duplicates, duplicate=duplicates)
        return BatchOutcome(acks_response_bytes(prepared.batch_id, prepared.keys, is_new), counts)
    response = sync_pb2.SyncResponse(batch_id=prepared.batch_id)
    add = response.acks.add
    counts = Counters(batches=1)
    first_reject = ""
    reasons = prepared.reasons
    new = iter(is_new)
    for index, key in enumerate(prepared.keys):
        reason = reasons[index] if reasons is not None else ""
        if reason:
            add(key=key, status=_REJECTED, reason=reason)
            counts.rejected += 1
            first_reject = first_reject or f"{mask_text(key)}: {reason}"
        elif next(new):
            add(key=key, status=_STORED)
        else:
            add(key=key, status=_DUPLICATE)
            counts.duplicate += 1
    counts.stored = len(prepared.keys) - counts.rejected - counts.duplicate
    return BatchOutcome(response.SerializeToString(), counts, first_reject)


class _Job(NamedTuple):
    site_id: str
    raw: bytes
    future: asyncio.Future


class CdrWriter:
    """`threads` writer threads, each with its own store, sharing one queue of raw batches. A thread takes
    every batch waiting (up to MAX_GROUP_BYTES), prepares each, stores all of them in one
    transaction and answers each batch's future after the COMMIT. While one transaction commits, the next
    batches queue up and share the following commit, so the fsync is paid per group, not per batch."""

    def __init__(self, pool, policy: CentralPolicy, threads: int):
        self._pool = pool
        self._policy = policy
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads = [threading.Thread(target=self._run, name=f"central-cdr-{i}", daemon=True)
                         for i in range(threads)]
        self.groups = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for thread in self._threads:
            thread.start()

    def submit(self, site_id: str, raw: bytes) -> asyncio.Future:
        future = self._loop.create_future()
        self._queue.put(_Job(site_id, raw, future))
        return future

    def stop(self) -> None:
        """Finish what is queued, then end the threads (blocking: call from a thread)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(30)

    def _take(self) -> list[_Job] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        jobs, size = [first], len(first.raw)
        while size < MAX_GROUP_BYTES:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                self._queue.put(_STOP)          # for this thread's next round
                break
            jobs.append(job)
            size += len(job.raw)
        return jobs

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            prepared = [(job, prepare(job.site_id, self._policy, job.raw)) for job in jobs]
            to_store = [(job, p) for job, p in prepared if isinstance(p, Prepared)]
            for job, p in prepared:
                if isinstance(p, BatchOutcome):
                    self._answer(job.future, p)
            if not to_store:
                continue
            try:
                store = self._pool.thread_store()
                results = store.store_batches(utc_now(), [(job.site_id, p.valid) for job, p in to_store])
            except StoreUnavailable as exc:
                for job, _ in to_store:
                    self._answer(job.future, exc)
                continue
            except Exception as exc:     # noqa: BLE001 - a bug: no ack, the stream ends, the thread lives on
                log.exception("record batch not stored")
                for job, _ in to_store:
                    self._answer(job.future, StoreUnavailable(f"internal error: {exc}"))
                continue
            self.groups += 1
            for (job, p), is_new in zip(to_store, results):
                self._answer(job.future, finish(p, is_new))

    def _answer(self, future: asyncio.Future, result) -> None:
        self._loop.call_soon_threadsafe(_settle, future, result)


def _settle(future: asyncio.Future, result) -> None:
    if future.done():                   # the stream went away meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
