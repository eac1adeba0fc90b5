"""Retention: delete delivered call records older than the configured days, in small batches, never reusing an id."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable

from appliance.store.records import id_runs
from appliance.store.uploads import UPLOADED, segments_of

log = logging.getLogger("appliance.store")

DAY_S = 86400.0


@dataclass
class RetentionResult:
    deleted: int = 0
    kept: int = 0              # old enough, but undelivered, dead-lettered or with a recording not uploaded
    batches: int = 0


def delete_expired(store, stored_before: float, *, batch: int = 500,
                   between: Callable[[], bool] = lambda: True, writes: Callable | None = None) -> RetentionResult:
    """Delete records stored before `stored_before` (epoch) that the central has and that hold nothing
    else: not in the outbox, never dead-lettered, every recording segment uploaded and its local copy
    gone. Each batch is one short transaction, on `store` or, with `writes` (the daemon's
    StoreWriter.call), on the store writer between its batches of records; `between()` runs after
    each (pause there; return False to stop early).

    SQLite gives a new row max(id)+1, so deleting the newest rows would hand their ids out again (and
    the sync and upload cursors, the outbox and dead letters all go by id): the row with the highest
    id is never deleted, so max(id) never goes down and no id is ever reused.
    """
    write = writes or (lambda fn: fn(store))
    result = RetentionResult()
    after = 0
    while True:
        step = write(lambda s, after=after: _delete_batch(s, stored_before, after, batch))
        if step is None:
            return result
        deleted, kept, after, done = step
        result.batches += 1
        result.deleted += deleted
        result.kept += kept
        if done or not between():
            return result


def _delete_batch(store, stored_before: float, after: int, batch: int) -> tuple[int, int, int, bool] | None:
    """One batch above id `after`: (deleted, kept, last id looked at, done?), None when nothing is old."""
    with store.transaction() as conn:
        newest = conn.execute("SELECT MAX(id) FROM cdr").fetchone()[0] or 0
        rows = conn.execute("SELECT id, stored_at, recording FROM cdr WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
                            (after, newest, batch)).fetchall()
        old = [r for r in rows if r[1] < stored_before]
        done = len(old) < len(rows) or len(rows) < batch      # reached records too young, or the end
        if not old:
            return None
        lo, hi = old[0][0], old[-1][0]
        held = {i for (i,) in conn.execute("SELECT cdr_id FROM outbox WHERE cdr_id BETWEEN ? AND ?", (lo, hi))}
        held |= {i for (i,) in conn.execute("SELECT cdr_id FROM dead_letter WHERE cdr_id BETWEEN ? AND ?", (lo, hi))}
        gone = set(conn.execute("SELECT cdr_id, segment FROM upload WHERE cdr_id BETWEEN ? AND ? AND state = ? "
                                "AND deleted_at IS NOT NULL", (lo, hi, UPLOADED)))
        doomed = [(cdr_id,) for cdr_id, _, recording in old if cdr_id not in held
                  and all((cdr_id, s["index"]) in gone for s in segments_of(recording))]
        if doomed:
            conn.executemany("DELETE FROM upload WHERE cdr_id = ?", doomed)
            conn.executemany("DELETE FROM cdr WHERE id = ?", doomed)
            for lo_id, hi_id in id_runs([cdr_id for (cdr_id,) in doomed]):
                retire(conn, lo_id, hi_id)
    return len(doomed), len(old) - len(doomed), hi, done


def retire(conn, lo: int, hi: int) -> None:
    """Note that ids lo..hi were deleted on purpose, merged with the runs either side of it."""
    before = conn.execute("SELECT lo, hi FROM retired WHERE lo < ? ORDER BY lo DESC LIMIT 1", (lo,)).fetchone()
    if before is not None and before[1] >= lo - 1:
        conn.execute("DELETE FROM retired WHERE lo = ?", (before[0],))
        lo, hi = before[0], max(hi, before[1])
    after = conn.execute("SELECT lo, hi FROM retired WHERE lo > ? AND lo <= ? ORDER BY lo DESC LIMIT 1",
                         (lo, hi + 1)).fetchone()
    if after is not None:
        conn.execute("DELETE FROM retired WHERE lo > ? AND lo <= ?", (lo, hi + 1))
        hi = max(hi, after[1])
    conn.execute("INSERT OR REPLACE INTO retired (lo, hi) VALUES (?, ?)", (lo, hi))


class RetentionSchedule:
    """When the daemon runs a retention pass: at start, then every `every_s` (never two at once)."""

    def __init__(self, days: float, clock: Callable[[], float], every_s: float = 3600.0):
        self.days = days
        self.every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self.running = False
        self.last_result: RetentionResult | None = None
        self.last_error = ""
        self.passes = 0

    def take(self) -> bool:
        """True when a pass is due; it then counts as running until `finished()`."""
        if self.days <= 0 or self.running:
            return False
        if self._last is not None and self._clock() - self._last < self.every_s:
            return False
        self.running, self._last = True, self._clock()
        return True

    def finished(self) -> None:
        self.running = False

    def run(self, store, now_epoch: float, between: Callable[[], bool], *,
            writes: Callable | None = None) -> RetentionResult:
        """One pass on the calling thread (not the loop's), on `store` or through `writes`."""
        try:
            result = delete_expired(store, now_epoch - self.days * DAY_S, between=between, writes=writes)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        self.last_result, self.last_error = result, ""
        self.passes += 1
        if result.deleted:
            log.info("retention: deleted %d delivered record(s) older than %g days (%d old one(s) kept: "
                     "undelivered, dead-lettered or recording not uploaded)", result.deleted, self.days, result.kept)
        return result

    async def run_off_loop(self, writes: Callable, now_epoch: float, *, stopping: Callable[[], bool],
                           pause_s: float = 0.05) -> None:
        """The daemon's pass (after take()): each batch on the store writer (`writes`, StoreWriter.call)
        between its batches of records, pausing `pause_s` between batches; ends early when `stopping()`.
        A failure (a full disk) is logged and tried again at the next pass."""
        def between() -> bool:
            time.sleep(pause_s)
            return not stopping()
        try:
            await asyncio.to_thread(self.run, None, now_epoch, between, writes=writes)
        except Exception as exc:      # noqa: BLE001 - said, and tried again next time
            log.warning("retention pass failed: %s: %s", type(exc).__name__, exc)
        finally:
            self.finished()

    def status(self) -> dict:
        r = self.last_result
        return {"days": self.days, "running": self.running, "passes": self.passes, "last_error": self.last_error,
                "last_deleted": r.deleted if r else None, "last_kept": r.kept if r else None}
