"""The upload client's store-thread work: look for segments, record verdicts, delete local copies, figures."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from appliance.ops.masking import mask_text
from appliance.store.uploads import UPLOADED, Found, SegmentWork, UploadLedger

_BACKLOG_REFRESH_S = 5.0


class UploadWork:
    """Runs on the upload client's one store thread, with a Store of its own (opened on first use).

    The figures (`backlog`, `settled`, `problems`, `deleted_total`) are plain values the event loop
    reads for status: refreshed every few seconds and kept current between refreshes.
    `writes` (the daemon's StoreWriter.call) runs the ledger's writes on the site's one writer thread
    (see storework.StoreWork); without it they go through this thread's own Store.
    """

    def __init__(self, store_factory: Callable[[], object], directory: Path, keep_after_upload_s: float, *,
                 clock: Callable[[], float], now: Callable[[], float], writes: Callable | None = None):
        self._store_factory = store_factory
        self._writes = writes
        self.directory = directory
        self.keep_after_upload_s = keep_after_upload_s
        self._clock, self._now = clock, now
        self._ledger: UploadLedger | None = None
        self._refreshed_at = float("-inf")
        self._refresh_every = _BACKLOG_REFRESH_S
        self.backlog: tuple[int, int, float | None] = (0, 0, None)     # segments, bytes, oldest stored_at
        self.settled: dict[str, int] = {}
        self.problems: list[dict] = []
        self.deleted_total = 0
        self.looks = 0
        self.passes = 0

    def ledger(self) -> UploadLedger:
        if self._ledger is None:
            self._ledger = UploadLedger(self._store_factory())
        return self._ledger

    def _write(self, fn: Callable[[UploadLedger], object]):
        """fn(ledger) on the site's writer thread when there is one, else on this thread's store."""
        if self._writes is None:
            return fn(self.ledger())
        return self._writes(lambda store: fn(UploadLedger(store)))

    def close(self) -> None:
        ledger, self._ledger = self._ledger, None
        if ledger is not None:
            ledger.store.close()

    def find_work(self, start: int, limit: int, skip: Iterable[tuple[int, int]]) -> Found:
        self.looks += 1
        return self.ledger().find_work(start, limit, skip)

    def record(self, item: SegmentWork, state: str, reason: str) -> None:
        """The verdict on a segment, durably; then the local copies now due (at once with keep 0)."""
        verdict, now = [(item.cdr_id, item.index, state, reason)], self._now()
        self._write(lambda ledger: ledger.settle(verdict, now))
        self.settled[state] = self.settled.get(state, 0) + 1
        segments, nbytes, oldest = self.backlog
        segments, nbytes = max(0, segments - 1), max(0, nbytes - item.size)
        self.backlog = (segments, nbytes, oldest if segments else None)
        if state == UPLOADED:
            self.delete_due()
        else:
            self.problems = self._problems()

    def housekeep(self) -> None:
        """Move the cursor, delete local copies now due, refresh the figures every few seconds."""
        ledger = self.ledger()
        self.passes += 1
        self._write(lambda writing: writing.advance_cursor())
        deleted = self.delete_due()
        if deleted or self._clock() - self._refreshed_at >= self._refresh_every:
            started = self._clock()
            self.backlog = ledger.backlog()
            self.settled = ledger.counts()
            self.problems = self._problems()
            # A large backlog (a long outage) costs more to count: count it less often, at most 5% busy.
            self._refreshed_at = self._clock()
            self._refresh_every = max(_BACKLOG_REFRESH_S, 20 * (self._refreshed_at - started))

    def delete_due(self) -> int:
        now = self._now()
        total = 0
        before = now - self.keep_after_upload_s
        while n := self._write(lambda ledger: ledger.delete_uploaded(self.directory, before, now)):
            total += n
        self.deleted_total += total
        return total

    def _problems(self) -> list[dict]:
        return [dict(p, call_key=mask_text(p["call_key"]), reason=mask_text(p["reason"]))
                for p in self.ledger().problems(limit=10)]
