"""The daemon's queue statistics at run time: the engine fed from the tracker, snapshots and alerts out."""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta, tzinfo
from typing import Callable, Iterable

from appliance.calls.record import CallRecord
from appliance.stats.alerts import Alert
from appliance.stats.live import AgentInput, waiting_from_calls
from appliance.stats.periods import local_date
from appliance.stats.settings import QueueSettings
from appliance.stats.snapshot import QueueSnapshot, QueueStatsEngine

log = logging.getLogger("appliance.stats")

PUBLISH_EVERY_S = 5.0


class QueueStatsService:
    """Feeds the engine (finished records, live state), and every `PUBLISH_EVERY_S` or on a change
    hands snapshots and alert changes to the listeners (wallboards, live events, status).

    `live` returns the live inputs now: (waiting calls per queue, agents, queues with a line).
    Clocks: `clock` is POSIX seconds (the engine's days and windows).
    """

    def __init__(self, settings: Iterable[QueueSettings], *, tz: tzinfo, clock: Callable[[], float],
                 live: Callable[[], tuple[list, list[AgentInput], set[str]]]):
        self.engine = QueueStatsEngine(settings, tz=tz, clock=clock)
        self._clock = clock
        self._live = live
        self._listeners: list[Callable[[dict[str, QueueSnapshot], list[Alert]], None]] = []
        self._last_publish = float("-inf")
        self._changed = True
        self.alerts_raised = 0
        self.alerts_cleared = 0
        self.last: dict[str, QueueSnapshot] = {}

    def subscribe(self, listener: Callable[[dict[str, QueueSnapshot], list[Alert]], None]) -> None:
        self._listeners.append(listener)

    def since_for_restore(self) -> datetime:
        """Records started after this are re-read from the store at start (yesterday and today)."""
        today = local_date(self._clock(), self.engine.tz)
        start = datetime.combine(today - timedelta(days=1), datetime.min.time(), self.engine.tz)
        return start

    def load(self, records: Iterable[CallRecord]) -> int:
        return self.engine.load(records)

    def records_finished(self, records: Iterable[CallRecord]) -> None:
        for record in records:
            if self.engine.record_finished(record):
                self._changed = True

    def live_changed(self) -> None:
        """Lines or agents changed: publish at the next tick."""
        self._changed = True

    def tick(self) -> None:
        """About twice a second: publish when something changed, and every PUBLISH_EVERY_S anyway."""
        now = self._clock()
        if not self._changed and now - self._last_publish < PUBLISH_EVERY_S:
            return
        waiting_calls, agents, line_queues = self._live()
        self.engine.set_live(waiting=waiting_from_calls(waiting_calls), agents=agents, line_queues=line_queues)
        snapshot = self.engine.snapshot(now)
        alerts = self.engine.alerts(now)
        for alert in alerts:
            self._log_alert(alert)
        self.last = snapshot
        self._changed = False
        self._last_publish = now
        for listener in self._listeners:
            try:
                listener(snapshot, alerts)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("queue statistics listener failed")

    def _log_alert(self, alert: Alert) -> None:
        if alert.level == "raised":
            self.alerts_raised += 1
            log.warning("ALERT: queue %s", alert.text)          # the text starts with the queue's name
        else:
            self.alerts_cleared += 1
            log.info("queue %s", alert.text)                    # "...; alert cleared"

    def status(self) -> dict:
        """Per queue: live, window and today figures as plain values; active alerts."""
        out = {}
        for name, snap in self.last.items():
            out[name] = {"live": dataclasses.asdict(snap.live), "window": dataclasses.asdict(snap.window),
                         "today": dataclasses.asdict(snap.today)}
        return {"queues": out, "alerts": [dataclasses.asdict(a) for a in self.engine.active_alerts()],
                "alerts_raised": self.alerts_raised, "alerts_cleared": self.alerts_cleared}


def sign_figures(snap: QueueSnapshot) -> dict:
    """The wallboard template's fields for one queue: live figures now, period figures of today."""
    live, today = snap.live, snap.today
    return {"queue": snap.queue, "waiting": live.waiting, "longest_wait": live.longest_wait_now_s,
            "agents_available": live.agents_available, "agents_on_call": live.agents_on_call,
            "agents_paused": live.agents_paused, "offered": today.offered, "answered": today.answered,
            "abandoned": today.abandoned, "service_level": today.service_level_pct,
            "abandon_rate": today.abandon_rate_pct, "asa": today.asa_s, "aht": today.aht_s}
