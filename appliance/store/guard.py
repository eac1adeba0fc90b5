"""Keep the daemon's store usable: open it (checked) at start, and on a full, failing or locked disk hold
device input, give back the ballast, report the state, and resume by itself once the store works again."""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Callable

from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.store.ballast import MIB, Ballast
from appliance.store.errors import FULL, StoreUnavailable, classify, fix_for, free_bytes

log = logging.getLogger("appliance.store")

RECOVERY_RETRY = BackoffPolicy(base_s=0.5, cap_s=5.0)


class StoreGuard:
    """The store's health as the daemon acts on it: "ok", or degraded with a problem and its fix.

    Degraded means device input is held (`hold_input(True)`): a failed commit holds it at once,
    whatever the writer's queue holds. Only a corrupt file is ever moved aside (by Store, at the
    checked open); a full disk, an I/O error, a lock, missing permissions or a schema too new
    leave the file alone and are retried with the shared back-off: the store is opened if it
    was not, the ballast is taken back once there is room for it twice over, and input resumes
    once the writer commits again. `open_checked()` opens, checks and migrates the store and
    returns the path of a file it moved aside (or None); it runs on a worker thread.
    """

    def __init__(self, data_dir: str | Path, *, open_checked: Callable[[], Path | None],
                 hold_input: Callable[[bool], None], ballast: Ballast,
                 on_opened: Callable[[Path | None], None] = lambda moved: None,
                 retry: BackoffPolicy = RECOVERY_RETRY, clock: Callable[[], float] = time.monotonic,
                 free: Callable[[Path], int | None] = free_bytes):
        self.data_dir = Path(data_dir)
        self.ballast = ballast
        self._open_checked = open_checked
        self._hold_input = hold_input
        self._on_opened = on_opened
        self._backoff = Backoff(retry)
        self._clock = clock
        self._free = free
        self._writer = None
        self._wake = asyncio.Event()
        self.opened = False
        self.problem: str | None = None       # one of appliance.store.errors' kinds
        self.detail = ""
        self.since: float | None = None
        self.last_recovery_s: float | None = None

    def attach(self, writer) -> None:
        """The store writer whose health decides when input may resume."""
        self._writer = writer

    def ensure_open(self) -> None:
        """For store factories: raise StoreUnavailable until the checked open has succeeded."""
        if not self.opened:
            raise StoreUnavailable(f"store {self.data_dir} is not open yet ({self.problem}: {self.detail})")

    # ---- start ----------------------------------------------------------------------------

    async def open_at_start(self) -> None:
        """The checked open and the ballast; a disk problem degrades instead of raising."""
        if await self._try_open():
            await self._take_ballast(at_start=True)

    async def _try_open(self) -> bool:
        try:
            moved = await asyncio.to_thread(self._open_checked)
        except Exception as exc:   # noqa: BLE001 - every failure is classified and reported
            kind = classify(exc, self.data_dir)
            if kind == FULL and self.ballast.release():
                return await self._try_open()       # once: the ballast is gone the second time
            self._degrade(kind, f"{type(exc).__name__}: {exc}")
            return False
        self.opened = True
        self._on_opened(moved)
        return True

    async def _take_ballast(self, at_start: bool = False) -> bool:
        """Reserve the ballast if it is missing and there is room for it twice over."""
        if not self.ballast.enabled or self.ballast.present:
            return True
        free = self._free(self.data_dir)
        if free is not None and free < self.ballast.resume_free_bytes():
            if at_start:
                self._degrade(FULL, f"{free // MIB} MiB free: not enough room to reserve the "
                                    f"{self.ballast.size // MIB} MiB ballast and keep as much free")
            return False
        try:
            await asyncio.to_thread(self.ballast.create)
        except OSError as exc:
            if at_start:
                self._degrade(classify(exc, self.data_dir), f"cannot reserve the ballast: {exc}")
            return False
        return True

    # ---- failures -------------------------------------------------------------------------

    def write_failed(self, exc: BaseException) -> None:
        """A commit failed (call on the loop): hold input now; on a full disk give back the ballast
        so the writer can commit what it holds and the sync can empty the outbox."""
        if isinstance(exc, StoreUnavailable):
            return                                 # not open yet: already degraded and reported
        kind = classify(exc, self.data_dir)
        self._degrade(kind, f"{type(exc).__name__}: {exc}")
        if kind == FULL and self.ballast.release() and self._writer is not None:
            self._writer.retry_now()

    def before_shutdown(self) -> None:
        """Stopping with commits failing on a full disk: the ballast is what lets them finish."""
        if self._writer is not None and not self._writer.healthy and self.ballast.release():
            self._writer.retry_now()

    def _degrade(self, kind: str, detail: str) -> None:
        self._hold_input(True)
        changed = kind != self.problem
        self.problem, self.detail = kind, detail
        if self.since is None:
            self.since = self._clock()
        if changed:
            log.error("store %s unusable (%s: %s): device input held, nothing is moved or deleted; "
                      "fix: %s", self.data_dir, kind, detail[:200], fix_for(kind, self.data_dir))
        self._wake.set()

    # ---- recovery -------------------------------------------------------------------------

    async def run(self) -> None:
        """Retry while degraded (back-off between attempts); wait quietly while all is well."""
        while True:
            if self.problem is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self._backoff.next())
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            if self.problem is not None and await self._usable_again():
                self._recovered()

    async def _usable_again(self) -> bool:
        if not self.opened and not await self._try_open():
            return False
        if self.ballast.enabled:
            if not await self._take_ballast():
                return False
        elif self.problem == FULL:
            free = self._free(self.data_dir)
            if free is not None and free < self.ballast.resume_free_bytes():
                return False
        if self._writer is not None and not self._writer.healthy:
            self._writer.retry_now()               # it commits again or fails again: next attempt decides
            return False
        return True

    def _recovered(self) -> None:
        took = self._clock() - (self.since or self._clock())
        log.warning("store %s usable again after %.1f s (%s cleared): device input resumed",
                    self.data_dir, took, self.problem)
        self.last_recovery_s = took
        self.problem, self.detail, self.since = None, "", None
        self._backoff.reset()
        self._hold_input(False)

    # ---- status ---------------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "state": "degraded" if self.problem else "ok",
            "problem": self.problem,
            "detail": self.detail,
            "fix": fix_for(self.problem, self.data_dir) if self.problem else "",
            "degraded_for_s": None if self.since is None else round(self._clock() - self.since, 1),
            "opened": self.opened,
            "free_bytes": self._free(self.data_dir),
            "ballast": self.ballast.status(),
            "last_recovery_s": None if self.last_recovery_s is None else round(self.last_recovery_s, 2),
        }
