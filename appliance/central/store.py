"""The central's storage interface: one contract, two backends (SQLite file, PostgreSQL URL)."""
from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

LIVE_KINDS = ("call", "agent", "alert", "stats", "snapshot")


class StoreError(Exception):
    """The database cannot be used as a central store (missing, foreign, made by a newer central, bad URL)."""


class StoreUnavailable(StoreError):
    """The database is unreachable or failed mid-transaction: nothing of the transaction is committed
    that the caller was told about. The caller must not acknowledge anything and may retry later."""


class RecordBatch(NamedTuple):
    """A batch's valid records as columns (what both backends bind fastest): keys, start times, wire bytes."""
    keys: Sequence[str]
    started_at: Sequence[str]
    payloads: Sequence[bytes]


@dataclass(frozen=True)
class StoredRecord:
    site_id: str
    key: str
    received_at: str
    payload: bytes            # the appliance.v1.CallRecord exactly as the site serialised it


@dataclass(frozen=True)
class StoredSelfTest:
    site_id: str
    run_id: str
    received_at: str
    payload: bytes            # serialized appliance.v1.SelfTestReport


class LiveRow(NamedTuple):
    """One live event to store. kind is one of LIVE_KINDS; queue is set for stats and alerts."""
    site_id: str
    site_seq: int
    at: str
    kind: str
    queue: str
    payload: bytes            # serialized appliance.v1.LiveEvent


@dataclass(frozen=True)
class StoredLive:
    id: int
    site_id: str
    site_seq: int
    at: str
    kind: str
    received_at: str
    payload: bytes


class RecordingRow(NamedTuple):
    """Metadata of one recording segment whose ciphertext the central holds, verified against its record."""
    site_id: str
    call_key: str
    segment_index: int
    name: str
    size: int
    sha256: str
    path: str                 # relative to the recordings directory
    stored_at: str


def finish_is_new(keys: Sequence[str], inserted: Iterator[str] | Sequence[str]) -> list[bool]:
    """Per key of the batch: True for the first occurrence of a key the INSERT returned, else False.

    A key repeated inside one batch is inserted once; its later copies are duplicates.
    """
    fresh = set(inserted)
    out: list[bool] = []
    append = out.append
    for key in keys:
        if key in fresh:
            fresh.discard(key)
            append(True)
        else:
            append(False)
    return out


class CentralStore(abc.ABC):
    """One connection to the central's database. Not thread-safe: each thread opens its own.

    Every write method commits before it returns (durably: fsync'd for SQLite, synchronous_commit = on
    for PostgreSQL) and raises StoreUnavailable when the database cannot be reached or the
    transaction failed, in which case the caller acknowledges nothing.
    """

    backend: str
    location: str             # file path, or the URL with any password masked: safe to log

    @abc.abstractmethod
    def store_batches(self, received_at: str, batches: Sequence[tuple[str, RecordBatch]]) -> list[list[bool]]:
        """Insert (site_id, batch) pairs in one transaction (group commit); per batch and record True if new,
        False if (site_id, key) existed. All or nothing: a failure stores none of them."""

    def store_records(self, site_id: str, received_at: str, batch: RecordBatch) -> list[bool]:
        """One batch in one transaction; per record True if new, False if (site_id, key) existed."""
        return self.store_batches(received_at, [(site_id, batch)])[0]

    @abc.abstractmethod
    def store_selftest(self, site_id: str, run_id: str, received_at: str, started_at: str,
                       verdict: int, payload: bytes) -> bool:
        """Store one self-test report; False if (site_id, run_id) was already stored."""

    @abc.abstractmethod
    def store_live(self, received_at: str, rows: Sequence[LiveRow], snapshots: dict[str, bytes],
                   origin: str) -> None:
        """Store live events (queue statistics included, kind "stats") and the current snapshot of each
        site in `snapshots`, in one transaction. PostgreSQL also notifies the other replicas (`origin`
        is this replica's id, so it can skip its own notifications)."""

    @abc.abstractmethod
    def record_payload(self, site_id: str, key: str) -> bytes | None:
        """The stored CallRecord bytes of (site_id, key), or None."""

    @abc.abstractmethod
    def store_recording(self, row: RecordingRow) -> bool:
        """Store a recording segment's metadata; False if (site_id, call_key, index) was already there."""

    @abc.abstractmethod
    def recording(self, site_id: str, call_key: str, segment_index: int) -> RecordingRow | None:
        """The stored metadata of one segment, or None."""

    @abc.abstractmethod
    def site_snapshots(self) -> dict[str, bytes]:
        """The latest stored SiteSnapshot (serialized LiveEvent) of every site."""

    @abc.abstractmethod
    def live_payload(self, event_id: int) -> bytes | None:
        """One stored live event's payload by id (for notifications too large to carry it)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and accepts writes."""

    # ---- reading (dump, tests) --------------------------------------------------------------

    @abc.abstractmethod
    def records(self, site_id: str | None = None) -> Iterator[StoredRecord]:
        """Every stored record in arrival order (optionally one site's)."""

    @abc.abstractmethod
    def selftests(self, site_id: str | None = None) -> Iterator[StoredSelfTest]:
        ...

    @abc.abstractmethod
    def live_events(self, site_id: str | None = None, kinds: Sequence[str] = LIVE_KINDS) -> Iterator[StoredLive]:
        """Stored live events of the given kinds, in arrival order."""

    @abc.abstractmethod
    def recordings(self, site_id: str | None = None) -> Iterator[RecordingRow]:
        ...

    @abc.abstractmethod
    def count_records(self, site_id: str | None = None) -> int:
        ...

    @abc.abstractmethod
    def close(self) -> None:
        ...

    def __enter__(self) -> "CentralStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_URL_PASSWORD = re.compile(r"(?P<head>^[a-z][a-z0-9+.-]*://[^:/@?#]*):[^@/?#]*@", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def mask_db_url(db: str) -> str:
    """The database location as it may be logged: any password in the URL replaced by ***."""
    if not is_postgres_url(db):
        return db
    masked = _URL_PASSWORD.sub(r"\g<head>:***@", db)
    return _QUERY_PASSWORD.sub(r"\g<head>***", masked)
