"""Liveness for the systemd watchdog: ping only while every watched component keeps making progress."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping

from appliance.ops.notify import Notifier

log = logging.getLogger("appliance.watchdog")


class Watchdog:
    """Withholds WATCHDOG=1 while any component is stalled, so systemd restarts a wedged daemon.

    `components` maps a name to a function returning the component's last progress time on
    `clock` (time.monotonic by default). A component proves it is alive by updating that time on
    every pass of its loop, idle passes included: the outbox writer after each batch or empty
    queue poll, the recorder after each audio block. It is stalled once that time is older than
    its `max_stall_s` (one number for all, or one per name). The ping comes from the event loop,
    so a blocked loop stops it too.
    """

    def __init__(
        self,
        notifier: Notifier,
        components: Mapping[str, Callable[[], float]],
        max_stall_s: float | Mapping[str, float],
        clock: Callable[[], float] = time.monotonic,
        idle_period_s: float = 10.0,
    ):
        if not components:
            raise ValueError("watchdog: no components to watch")
        if isinstance(max_stall_s, Mapping):
            missing = sorted(set(components) - set(max_stall_s))
            unknown = sorted(set(max_stall_s) - set(components))
            if missing or unknown:
                raise ValueError(f"watchdog: max_stall_s has no limit for {missing}, limits for unknown {unknown}")
            limits = {name: float(max_stall_s[name]) for name in components}
        else:
            limits = {name: float(max_stall_s) for name in components}
        bad = sorted(name for name, limit in limits.items() if not (limit > 0 and math.isfinite(limit)))
        if bad:
            raise ValueError(f"watchdog: max_stall_s must be a positive number of seconds for {bad}")
        self._notifier = notifier
        self._components = dict(components)
        self._limits = limits
        self._clock = clock
        self._idle_period_s = idle_period_s
        self.interval_s = notifier.watchdog_interval()
        self._stalled: tuple[str, ...] = ()
        self._pings = 0
        self._last_ping: float | None = None
        self._probe_errors: dict[str, str] = {}

    @property
    def period_s(self) -> float:
        """How often run() checks: half of WatchdogSec=, as systemd recommends."""
        return self.interval_s / 2 if self.interval_s else self._idle_period_s

    def check(self, now: float | None = None) -> list[str]:
        """Names of the stalled components, in the order they were given. Pure: no ping, no log."""
        ages = self._ages(self._clock() if now is None else now)
        return [name for name, age in ages.items() if age is None or age > self._limits[name]]

    def tick(self, now: float | None = None) -> list[str]:
        """One round: check, log what changed, ping if nothing is stalled. Returns the stalled names."""
        now = self._clock() if now is None else now
        ages = self._ages(now)
        stalled = tuple(name for name, age in ages.items() if age is None or age > self._limits[name])
        for name in stalled:
            if name not in self._stalled:
                age = ages[name]
                if age is None:
                    since = f"cannot report its progress ({self._probe_errors.get(name, 'unknown error')})"
                else:
                    since = f"has made no progress for {age:.1f} s"
                log.warning(
                    "watchdog: %s %s (limit %.1f s); withholding the systemd keep-alive so the daemon is restarted",
                    name, since, self._limits[name],
                )
        for name in self._stalled:
            if name not in stalled:
                log.info("watchdog: %s is making progress again", name)
        self._stalled = stalled
        if not stalled and self.interval_s is not None and self._notifier.watchdog():
            self._pings += 1
            self._last_ping = now
        return list(stalled)

    async def run(self) -> None:
        """Run forever on the daemon's loop: `asyncio.create_task(watchdog.run(), name="watchdog")`."""
        if self.interval_s is None:
            log.info("watchdog: systemd watchdog is off; checking components every %.0f s for the log only", self.period_s)
        while True:
            self.tick()
            await asyncio.sleep(self.period_s)

    def status(self, now: float | None = None) -> dict:
        now = self._clock() if now is None else now
        ages = self._ages(now)
        return {
            "interval_s": self.interval_s,
            "stalled": list(self._stalled),
            "pings": self._pings,
            "last_ping_age_s": None if self._last_ping is None else round(now - self._last_ping, 3),
            "components": {
                name: {"age_s": None if age is None else round(age, 3), "max_stall_s": self._limits[name]}
                for name, age in ages.items()
            },
        }

    def _ages(self, now: float) -> dict[str, float | None]:
        """Seconds since each component's last progress; None if asking it failed (counts as stalled)."""
        ages: dict[str, float | None] = {}
        for name, last_progress in self._components.items():
            try:
                ages[name] = now - float(last_progress())
            except Exception as exc:  # noqa: BLE001 - a broken probe must read as "stalled", not kill the loop
                self._probe_errors[name] = f"{type(exc).__name__}: {exc}"
                ages[name] = None
        return ages
