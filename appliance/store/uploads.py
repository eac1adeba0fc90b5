"""Upload state of recording segments in the store: work to offer, the central's verdicts, local copies to delete."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

UPLOADED, REJECTED, MISSING = "uploaded", "rejected", "missing"
_CURSOR_KEY = "upload_cursor"
_RECORDED = "SELECT id, key, recording, stored_at FROM cdr INDEXED BY cdr_recorded WHERE recording != '' "
_PAGE = 500


@dataclass(frozen=True, slots=True)
class SegmentWork:
    """One segment of a delivered record that the central does not have yet."""
    cdr_id: int
    call_key: str
    index: int
    name: str
    size: int
    sha256: str
    stored_at: float             # epoch when its record was stored (for the backlog's age)

    @property
    def ident(self) -> tuple[int, int]:
        return self.cdr_id, self.index


@dataclass(frozen=True, slots=True)
class Found:
    """What one look for work found; `next_from` is where the next look continues (0: from the cursor)."""
    work: list[SegmentWork]
    next_from: int


def segments_of(recording_json: str) -> list[dict]:
    """The segment dicts of a cdr.recording value ("" or JSON of a Recording)."""
    if not recording_json:
        return []
    return list(json.loads(recording_json).get("segments") or ())


class UploadLedger:
    """Reads and writes the `upload` table of one Store (used on one thread, like the Store).

    A segment has a row once it is settled: `uploaded` (the central acknowledged it), `rejected` (the
    central, or the local check, refused it for good: kept on disk, never offered again) or `missing`
    (its file is gone and the central does not have it). Segments without a row are work once their
    record is delivered (no outbox row) and not dead-lettered. `upload_cursor` in `meta` is a low-water
    mark: every recorded row at or below it is settled or dead-lettered, so a look for work starts
    above it and costs rows of the `cdr_recorded` index only, not the whole table. Dead letters that
    were replayed and then delivered are looked up on their own (the dead-letter table is small).
    """

    def __init__(self, store):
        self.store = store

    # ---- finding work ----------------------------------------------------------------------

    def cursor(self) -> int:
        row = self.store.conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def find_work(self, start: int, limit: int, skip: Iterable[tuple[int, int]] = (),
                  max_rows: int = 5000) -> Found:
        """Segments to upload (about `limit`; whole pages of rows), looking at recorded rows above
        `start` (0: above the cursor, plus replayed dead letters), at most `max_rows` of them; `skip`
        are segments already taken."""
        skip = set(skip)
        work: list[SegmentWork] = []
        after = start
        if start <= 0:
            after = self.cursor()
            work.extend(w for w in self._replayed(after) if w.ident not in skip)
        seen = 0
        while len(work) < limit and seen < max_rows:
            rows = self.store.conn.execute(_RECORDED + "AND id > ? ORDER BY id LIMIT ?", (after, _PAGE)).fetchall()
            seen += len(rows)
            if rows:
                pending, dead, settled = self._states(rows[0][0], rows[-1][0])
                work.extend(w for w in self._unsettled(rows, pending | dead, settled) if w.ident not in skip)
            if len(rows) < _PAGE:
                return Found(work, 0)
            after = rows[-1][0]
        return Found(work, after)

    def _replayed(self, cursor: int) -> list[SegmentWork]:
        """Segments of dead letters at or below the cursor that were replayed and have been delivered."""
        rows = self.store.conn.execute(
            "SELECT c.id, c.key, c.recording, c.stored_at FROM dead_letter d JOIN cdr c ON c.id = d.cdr_id "
            "WHERE d.replayed_at IS NOT NULL AND d.cdr_id <= ? AND c.recording != '' "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.cdr_id = d.cdr_id) ORDER BY d.cdr_id",
            (cursor,)).fetchall()
        if not rows:
            return []
        settled = set(self.store.conn.execute(
            "SELECT cdr_id, segment FROM upload WHERE cdr_id IN (SELECT cdr_id FROM dead_letter "
            "WHERE replayed_at IS NOT NULL AND cdr_id <= ?)", (cursor,)))
        return list(self._unsettled(rows, set(), settled))

    @staticmethod
    def _unsettled(rows: Sequence[tuple], blocked: set[int], settled: set[tuple[int, int]]) -> Iterable[SegmentWork]:
        """Segments without a verdict among (id, key, recording, stored_at) rows, but of `blocked` ids."""
        for cdr_id, key, recording, stored_at in rows:
            if cdr_id in blocked:
                continue
            for seg in segments_of(recording):
                if (cdr_id, seg["index"]) not in settled:
                    yield SegmentWork(cdr_id, key, int(seg["index"]), str(seg["name"]), int(seg["bytes"]),
                                      str(seg["sha256"]), float(stored_at))

    def _states(self, lo: int, hi: int) -> tuple[set[int], set[int], set[tuple[int, int]]]:
        """Of the ids lo..hi (one page): in the outbox, dead-lettered (not replayed), settled segments."""
        conn = self.store.conn
        pending = {i for (i,) in conn.execute("SELECT cdr_id FROM outbox WHERE cdr_id BETWEEN ? AND ?", (lo, hi))}
        dead = {i for (i,) in conn.execute("SELECT cdr_id FROM dead_letter WHERE cdr_id BETWEEN ? AND ? "
                                           "AND replayed_at IS NULL", (lo, hi))}
        settled = set(conn.execute("SELECT cdr_id, segment FROM upload WHERE cdr_id BETWEEN ? AND ?", (lo, hi)))
        return pending, dead, settled

    def advance_cursor(self, max_rows: int = 5000) -> int:
        """Move the low-water mark over rows that are settled (or dead-lettered); returns it."""
        conn = self.store.conn
        start = cursor = self.cursor()
        seen = 0
        while seen < max_rows:
            rows = conn.execute(_RECORDED + "AND id > ? ORDER BY id LIMIT ?", (cursor, _PAGE)).fetchall()
            if not rows:
                break
            seen += len(rows)
            pending, dead, settled = self._states(rows[0][0], rows[-1][0])
            for cdr_id, _, recording, _ in rows:
                if cdr_id in pending:
                    break
                if cdr_id not in dead and any((cdr_id, s["index"]) not in settled for s in segments_of(recording)):
                    break
                cursor = cdr_id
            else:
                if len(rows) == _PAGE:
                    continue
            break
        if cursor != start:
            with self.store.transaction() as tx:
                tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_CURSOR_KEY, str(cursor)))
        return cursor

    # ---- verdicts --------------------------------------------------------------------------

    def settle(self, items: Sequence[tuple[int, int, str, str]], now: float) -> None:
        """Record (cdr_id, segment, state, reason) verdicts in one transaction; a later verdict replaces one."""
        with self.store.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO upload (cdr_id, segment, state, reason, at, deleted_at) "
                             "VALUES (?, ?, ?, ?, ?, NULL)",
                             ((int(c), int(s), state, reason, now) for c, s, state, reason in items))

    def reoffer(self, keys: Sequence[str] | None = None) -> tuple[int, list[str]]:
        """Forget the `rejected` and `missing` verdicts of these calls' segments (every one when None), so
        they are offered again: after fixing the cause (a file put back, a central that refused wrongly).
        Returns (segments re-offered, keys given that had none)."""
        sql = ("SELECT u.cdr_id, u.segment, c.key FROM upload u JOIN cdr c ON c.id = u.cdr_id "
               "WHERE u.state IN (?, ?)")
        with self.store.transaction() as conn:
            rows = conn.execute(sql, (REJECTED, MISSING)).fetchall()
            if keys is not None:
                wanted = set(keys)
                rows = [r for r in rows if r[2] in wanted]
            conn.executemany("DELETE FROM upload WHERE cdr_id = ? AND segment = ?", [r[:2] for r in rows])
            if rows and min(r[0] for r in rows) <= self.cursor():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (_CURSOR_KEY, str(min(r[0] for r in rows) - 1)))
        found = {r[2] for r in rows}
        return len(rows), [k for k in (keys or ()) if k not in found]

    def problems(self, limit: int = 20) -> list[dict]:
        """Segments refused or missing (newest first): kept on disk, alarmed, not offered again."""
        rows = self.store.conn.execute(
            "SELECT u.cdr_id, c.key, u.segment, u.state, u.reason, u.at FROM upload u JOIN cdr c ON c.id = u.cdr_id "
            "WHERE u.state != ? ORDER BY u.at DESC LIMIT ?", (UPLOADED, limit))
        return [dict(zip(("cdr_id", "call_key", "segment", "state", "reason", "at"), r)) for r in rows]

    def counts(self) -> dict[str, int]:
        return {state: n for state, n in self.store.conn.execute("SELECT state, COUNT(*) FROM upload GROUP BY state")}

    # ---- local copies ----------------------------------------------------------------------

    def delete_uploaded(self, directory: Path, uploaded_before: float, now: float, limit: int = 200) -> int:
        """Delete local files of segments the central acknowledged before `uploaded_before`; returns how
        many. Only `uploaded` rows are ever looked at: nothing not yet uploaded is touched."""
        rows = self.store.conn.execute(
            "SELECT u.cdr_id, u.segment, c.recording FROM upload u INDEXED BY upload_local "
            "JOIN cdr c ON c.id = u.cdr_id WHERE u.state = 'uploaded' AND u.deleted_at IS NULL AND u.at <= ? "
            "ORDER BY u.at LIMIT ?", (uploaded_before, limit)).fetchall()
        done = []
        for cdr_id, segment, recording in rows:
            for seg in segments_of(recording):
                if seg["index"] == segment:
                    try:
                        path = local_path(directory, seg["name"])
                    except ValueError:
                        continue            # a name that cannot be a file of ours: nothing to delete
                    path.unlink(missing_ok=True)
            done.append((now, cdr_id, segment))
        if done:
            with self.store.transaction() as conn:
                conn.executemany("UPDATE upload SET deleted_at = ? WHERE cdr_id = ? AND segment = ?", done)
        return len(done)

    # ---- figures ---------------------------------------------------------------------------

    def backlog(self) -> tuple[int, int, float | None]:
        """(segments, bytes, oldest stored_at) of recordings not settled yet, delivered or not."""
        cursor = self.cursor()
        unsettled = ("json_each(c.recording, '$.segments') s WHERE c.recording != '' AND NOT EXISTS "
                     "(SELECT 1 FROM upload u WHERE u.cdr_id = c.id AND u.segment = json_extract(s.value, '$.index')) "
                     "AND NOT EXISTS (SELECT 1 FROM dead_letter d WHERE d.cdr_id = c.id AND d.replayed_at IS NULL)")
        figures = "SELECT COUNT(*), COALESCE(SUM(json_extract(s.value, '$.bytes')), 0), MIN(c.stored_at) FROM cdr c"
        conn = self.store.conn
        above = conn.execute(f"{figures} INDEXED BY cdr_recorded, {unsettled} AND c.id > ?", (cursor,)).fetchone()
        below = conn.execute(f"{figures}, {unsettled} AND c.id IN (SELECT cdr_id FROM dead_letter "
                             "WHERE replayed_at IS NOT NULL AND cdr_id <= ?)", (cursor,)).fetchone()
        oldest = [t for t in (above[2], below[2]) if t is not None]
        return above[0] + below[0], above[1] + below[1], min(oldest) if oldest else None


def uploaded_but_kept(conn) -> set[str]:
    """File names of segments the central has whose local copy is still kept (keep_after_upload_s)."""
    rows = conn.execute("SELECT u.segment, c.recording FROM upload u INDEXED BY upload_local "
                        "JOIN cdr c ON c.id = u.cdr_id WHERE u.state = 'uploaded' AND u.deleted_at IS NULL")
    return {seg["name"] for segment, recording in rows for seg in segments_of(recording) if seg["index"] == segment}


def local_path(directory: Path, name: str) -> Path:
    """The local file of a segment: a plain name inside `directory`, never a path elsewhere."""
    if not name or name in (".", "..") or Path(name).name != name:
        raise ValueError(f"unsafe segment name {name!r}")
    return Path(directory) / name
