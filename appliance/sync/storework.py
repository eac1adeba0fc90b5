"""The sync client's store-thread work: read and encode batches, apply acks to the store, count the backlog."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from appliance.sync import convert
from appliance.v1 import sync_pb2

_BACKLOG_REFRESH_S = 1.0


@dataclass(frozen=True)
class Prepared:
    """One batch read from the store and encoded, ready to write; `last_id` moves the cursor."""
    batch_id: int
    ids: tuple[int, ...]
    keys: tuple[str, ...]
    payload: bytes
    last_id: int
    unsendable: int                     # records dead-lettered locally because they cannot be encoded
    first_unsendable: str               # why, for the first of them


@dataclass(frozen=True)
class InFlight:
    batch_id: int
    ids: tuple[int, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class AckResult:
    """What one store-thread pass over received responses did."""
    batch_ids: tuple[int, ...]          # fully handled, free their window slots
    stored: int
    duplicates: int
    rejected: int
    first_reject: str                   # "key: reason" of one rejected record, for the log
    error: str                          # a protocol error: the session must end ("" if none)


class StoreWork:
    """Runs on the sync client's two store threads; each thread keeps its own Store.

    `backlog` is (undelivered count, age of the oldest in seconds or None), refreshed from the
    store about once a second and kept current between refreshes from the acks applied.

    `writes` (the daemon's StoreWriter.call) runs what changes the store on the site's one writer
    thread: SQLite lets one connection write at a time, and the acks' own connection would wait
    behind a long ingest. Without it they are written on this thread's own Store.
    """

    def __init__(self, store_factory: Callable[[], object], batch_size: int, *,
                 clock: Callable[[], float] = time.monotonic, writes: Callable | None = None):
        self._store_factory = store_factory
        self._writes = writes
        self._batch_size = batch_size
        self._clock = clock
        self._local = threading.local()
        self.backlog: tuple[int, float | None] = (0, None)
        self._backlog_at = float("-inf")

    def store(self):
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self._store_factory()
        return store

    def close_store(self) -> None:
        store = getattr(self._local, "store", None)
        self._local.store = None
        close = getattr(store, "close", None)
        if close is not None:
            close()

    def prepare_batch(self, cursor: int, batch_id: int) -> Prepared | None:
        """The next batch after `cursor`: the records' stored wire bytes, concatenated. Rows stored
        without them are encoded from their columns; a record that cannot be is dead-lettered."""
        store = self.store()
        rows = store.pending_payloads(after_id=cursor, limit=self._batch_size)
        if not rows:
            self.refresh_backlog(force=True)     # cheap: the outbox is (nearly) empty
            return None
        last_id = rows[-1][0]
        failed: list[tuple[int, convert.ConversionError]] = []
        if any(payload is None for _, _, payload in rows):
            rows, failed = self._encode_missing(store, cursor, rows)
        ids, keys, payloads = zip(*rows) if rows else ((), (), ())
        self.refresh_backlog()
        return Prepared(batch_id=batch_id, ids=ids, keys=keys, payload=convert.batch_bytes(batch_id, payloads),
                        last_id=last_id, unsendable=len(failed),
                        first_unsendable=str(failed[0][1]) if failed else "")

    def _encode_missing(self, store, cursor: int, rows: list) -> tuple[list, list]:
        """Rows without stored bytes (older rows, or not encodable when stored): encode them from
        their columns as before; dead-letter those that cannot be. Returns (rows to send, failures)."""
        full = dict(store.pending(after_id=cursor, limit=len(rows)))
        out, failed = [], []
        for cdr_id, key, payload in rows:
            if payload is None:
                record = full.get(cdr_id)
                if record is None:
                    continue                     # delivered meanwhile
                try:
                    payload = convert.to_pb(record).SerializeToString()
                except convert.ConversionError as exc:
                    failed.append((cdr_id, exc))
                    continue
            out.append((cdr_id, key, payload))
        if failed:
            items = [(cdr_id, f"not sendable: {exc.reason}") for cdr_id, exc in failed]
            self._write(lambda store: store.mark_rejected(items))
        return out, failed

    def _write(self, fn: Callable):
        """fn(store) on the site's writer thread when there is one, else on this thread's store."""
        return fn(self.store()) if self._writes is None else self._writes(fn)

    def apply_acks(self, raws: list[bytes], inflight: dict[int, InFlight]) -> AckResult:
        """Check each response against its batch and mark the store, one transaction per kind."""
        delivered: list[int] = []
        rejected: list[tuple[int, str]] = []
        done: list[int] = []
        stored = duplicates = 0
        first_reject = error = ""
        for raw in raws:
            try:
                response = sync_pb2.SyncResponse.FromString(raw)
            except Exception as exc:      # noqa: BLE001 - any decode failure is the central's fault
                error = f"undecodable response ({exc})"
                break
            batch = inflight.get(response.batch_id)
            if batch is None:
                error = f"response for unknown batch {response.batch_id}"
                break
            problem = check_acks(batch, response)
            if problem:
                error = problem
                break
            for cdr_id, ack in zip(batch.ids, response.acks):
                status = ack.status
                if status == sync_pb2.STORED:
                    delivered.append(cdr_id)
                    stored += 1
                elif status == sync_pb2.DUPLICATE:
                    delivered.append(cdr_id)
                    duplicates += 1
                else:
                    reason = ack.reason or "rejected by the central (no reason given)"
                    rejected.append((cdr_id, reason))
                    if not first_reject:
                        first_reject = f"{ack.key}: {reason}"
            done.append(batch.batch_id)
        if delivered or rejected:
            self._write(lambda store: _mark(store, delivered, rejected))
        # Keep the count current between the (throttled) full refreshes.
        count, oldest = self.backlog
        count = max(0, count - len(delivered) - len(rejected))
        self.backlog = (count, oldest if count else None)
        self.refresh_backlog()
        return AckResult(batch_ids=tuple(done), stored=stored, duplicates=duplicates,
                          rejected=len(rejected), first_reject=first_reject, error=error)

    def refresh_backlog(self, force: bool = False) -> None:
        now = self._clock()
        if force or now - self._backlog_at >= _BACKLOG_REFRESH_S:
            self.backlog = self.store().backlog()
            self._backlog_at = now



def _mark(store, delivered: list[int], rejected: list[tuple[int, str]]) -> None:
    if delivered:
        store.mark_delivered(delivered)
    if rejected:
        store.mark_rejected(rejected)


def check_acks(batch: InFlight, response: sync_pb2.SyncResponse) -> str:
    """"" when the response has one valid ack per record of the batch, in order; else what is wrong."""
    acks = response.acks
    if len(acks) != len(batch.keys):
        return f"batch {batch.batch_id}: {len(acks)} acks for {len(batch.keys)} records"
    for index, (key, ack) in enumerate(zip(batch.keys, acks)):
        if ack.key != key:
            return f"batch {batch.batch_id}: ack {index} is for another record than the one sent"
        if ack.status not in (sync_pb2.STORED, sync_pb2.DUPLICATE, sync_pb2.REJECTED):
            return f"batch {batch.batch_id}: ack {index} has status {ack.status}"
    return ""

