"""The daemon's store side: one daemon per data dir (the lock), the checked open or a degraded state,
salvage of databases left moved aside, operator commands that write, and what status shows of it all."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable

from appliance.store.operations import WRITES
from appliance.store.ballast import Ballast
from appliance.store.errors import StoreError
from appliance.store.files import moved_aside_files
from appliance.store.guard import StoreGuard
from appliance.store.lock import DataDirLock
from appliance.store.salvage import describe, record_failure, salvage_into
from appliance.store.store import Store

log = logging.getLogger("appliance.store")


class StoreKeeper:
    """Owns the data dir for the daemon's lifetime. `start()` first of all: it takes the lock (a
    second daemon gets DataDirBusy naming the first's pid, before any device or central is
    touched), then opens the store through the guard, which degrades instead of failing.
    `store()` is the factory every other part uses; it refuses until the checked open is done.
    """

    def __init__(self, data_dir: str | Path, site_id: str, *, ballast_bytes: int,
                 hold_input: Callable[[bool], None], now: Callable[[], float] = time.time):
        self.data_dir = Path(data_dir)
        self.site_id = site_id
        self._now = now
        self._lock = DataDirLock(self.data_dir)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = None
        self.guard = StoreGuard(self.data_dir, open_checked=self._open_checked, hold_input=hold_input,
                                ballast=Ballast(self.data_dir, ballast_bytes), on_opened=self._opened)
        self.salvage_reports: list[dict] = []
        self.salvage_note = ""            # a salvage that could not be written yet, and why
        self._writer = None

    async def start(self, tasks) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = tasks
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock.acquire()
        await self.guard.open_at_start()
        tasks.start(self.guard.run(), "store-guard")

    def stop(self) -> None:
        self._lock.release()

    def store(self, **kw) -> Store:
        self.guard.ensure_open()
        return Store(self.data_dir, site_id=self.site_id, check=False, now=self._now, **kw)

    def _open_checked(self) -> Path | None:
        with Store(self.data_dir, site_id=self.site_id, now=self._now) as store:
            return store.recovered_from

    # ---- the writer ---------------------------------------------------------------------

    def attach(self, writer) -> None:
        self.guard.attach(writer)
        self._writer = writer

    def write_failed(self, exc: BaseException) -> None:
        """The writer's on_error hook (writer thread): the guard acts on the loop, at once."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.guard.write_failed, exc)

    async def finish(self, writer, hand_over_held: Callable[[], int] | None = None) -> None:
        """Stopping: batches held back by backpressure go to the writer too; on a full disk the
        ballast is given back; whatever still cannot be committed is counted in the writer's log."""
        if hand_over_held is not None:
            hand_over_held()
        self.guard.before_shutdown()
        await asyncio.to_thread(writer.close, 20.0 if writer.healthy else 8.0)

    # ---- salvage ------------------------------------------------------------------------

    def _opened(self, moved: Path | None) -> None:
        if moved is not None:
            log.error("database was corrupt: moved aside to %s; salvaging its records into the new one",
                      moved)
        if self._tasks is not None:
            self._tasks.start(asyncio.to_thread(self._salvage_left_behind), "salvage")

    def _salvage_left_behind(self) -> None:
        """Salvage every database moved aside in the data dir that has no salvage report yet."""
        store = self.store()
        try:
            done = store.salvaged_sources()
            for path in moved_aside_files(self.data_dir):
                if str(path.resolve()) in done:
                    continue
                try:
                    salvage_into(store, path)
                except sqlite3.Error as exc:     # writing the new store failed: try again next start
                    self.salvage_note = f"salvage of {path.name} not finished: {exc}"
                    log.error("%s; it is retried at the next start, or run `appliance store salvage %s`",
                              self.salvage_note, path)
                except Exception as exc:         # noqa: BLE001 - an unreadable file is reported, kept
                    record_failure(store, path, f"{type(exc).__name__}: {exc}")
            self.salvage_reports = store.salvage_reports()
        finally:
            store.close()

    # ---- operator commands (control socket) ---------------------------------------------

    def commands(self) -> dict[str, Callable]:
        """Control-socket handlers for the commands that write; each runs on a worker thread."""
        def handler(operation):
            async def run(**args):
                return await asyncio.to_thread(self._run, operation, args)
            return run
        return {name: handler(op) for name, op in WRITES.items()}

    def _run(self, operation, args: dict) -> dict:
        """On the store writer's thread, between two batches: a connection of our own could wait
        for the write lock for as long as an ingest keeps the writer busy."""
        if self._writer is None:
            return {"error": "store is not open yet"}
        try:
            return self._writer.call(lambda store: self._operate(store, operation, args), timeout=None)
        except StoreError as exc:
            return {"error": str(exc)}

    def _operate(self, store: Store, operation, args: dict) -> dict:
        try:
            return operation(store, **args)
        except (StoreError, sqlite3.Error, OSError, TypeError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            try:
                self.salvage_reports = store.salvage_reports()
            except sqlite3.Error:
                pass

    # ---- status -------------------------------------------------------------------------

    def status(self) -> dict:
        out = self.guard.status()
        out["salvage"] = [dict(r, summary=describe(r)) for r in self.salvage_reports]
        if self.salvage_note:
            out["salvage_note"] = self.salvage_note
        return out

    def status_words(self) -> str:
        """What STATUS= (systemctl status) says of the store when it needs attention, or ""."""
        words = []
        if self.guard.problem:
            words.append(f"STORE DEGRADED ({self.guard.problem}): input held")
        if self.salvage_reports:
            words.append("salvage: " + "; ".join(describe(r) for r in self.salvage_reports[:1]) +
                         " (appliance store acknowledge)")
        return ", ".join(words)
