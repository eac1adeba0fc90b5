"""QueueStatsEngine: the daemon's queue statistics, fed records and live state, read as snapshots and alerts."""
from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Callable

from appliance.calls.record import CallRecord

from appliance.stats.alerts import Alert, AlertTracker
from appliance.stats.live import AgentInput, LiveFigures, LiveInputs, live_figures, to_posix
from appliance.stats.periods import InvalidRecord, Offer, PeriodCounts, PeriodStats, day_bounds, local_date, offer_of
from appliance.stats.settings import QueueSettings, by_name, settings_for

COUNTERS = ("counted", "not_offered", "duplicate", "invalid", "out_of_range", "bad_agent_state")


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One queue at one moment: live figures, the rolling window and the site's day so far."""
    queue: str
    settings: QueueSettings
    live: LiveFigures
    window: PeriodStats          # calls started in [now - window_s, now)
    today: PeriodStats           # calls started since the start of the site's day

    def to_pb(self):
        """appliance.v1.live_pb2.QueueStats with every field filled."""
        from appliance.v1 import live_pb2
        s = self.settings
        msg = live_pb2.QueueStats(queue=self.queue, window_s=s.window_s, service_level_s=s.service_level_s,
                                  short_abandon_s=s.short_abandon_s)
        self.live.fill_pb(msg)
        self.window.to_pb(msg.window)
        self.today.to_pb(msg.today)
        return msg


class _Day:
    """One site day: its per-queue counts and the record identities already counted."""
    __slots__ = ("counts", "seen")

    def __init__(self) -> None:
        self.counts: dict[str, PeriodCounts] = {}
        self.seen: set[tuple[str, str]] = set()


def _by_start(offer: Offer) -> float:
    return offer.started


class QueueStatsEngine:
    """Queue figures for the daemon. Pure: no I/O; time comes from `clock` (POSIX seconds) or `now`.

    Feed every finished record (`record_finished`, any order, re-sends welcome: a record counts once
    per (site_id, key)) and the live state (`set_live`, whenever it changes); read `snapshot(now)`,
    `alerts(now)` (changes only) and `to_pb(now)`. Days are the site's calendar days in `tz`; today's
    and yesterday's figures are kept (`day_stats`), older days are the central's business.
    The settings are fixed for an engine: on a configuration change build a new one, passing the
    old one's `alert_state` (so raised alerts still get their clear), and `load` today's records
    from the store into it (the same call restores the figures after a restart).
    """

    def __init__(self, settings: Iterable[QueueSettings] | Mapping[str, QueueSettings] = (), *,
                 tz: tzinfo, clock: Callable[[], float], alert_state: AlertTracker | None = None):
        self.settings = by_name(settings)
        self.tz = tz
        self.clock = clock
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._days: dict[date, _Day] = {}
        self._window: dict[str, list[Offer]] = {}     # per queue, sorted by start
        self._live, _ = LiveInputs.build()
        self.alert_state = alert_state if alert_state is not None else AlertTracker()
        self._day_cache: list[tuple[float, float, date]] = []

    # ---- input ---------------------------------------------------------------------------

    def record_finished(self, record: CallRecord) -> bool:
        """Count one finished record; True if it counted (an offer to a queue not seen before)."""
        try:
            offer = offer_of(record)
        except InvalidRecord:
            self.counters["invalid"] += 1
            return False
        if offer is None:
            self.counters["not_offered"] += 1
            return False
        now = self.clock()
        day, today = self._day_of(offer.started), self._day_of(now)
        if not -1 <= (day - today).days <= 1:
            self.counters["out_of_range"] += 1
            return False
        bucket = self._days.get(day)
        if bucket is None:
            bucket = self._days[day] = _Day()
        ident = (offer.site_id, offer.key)
        if ident in bucket.seen:
            self.counters["duplicate"] += 1
            return False
        bucket.seen.add(ident)
        s = settings_for(self.settings, offer.queue)
        counts = bucket.counts.get(offer.queue)
        if counts is None:
            counts = bucket.counts[offer.queue] = PeriodCounts(s)
        counts.add(offer)
        if offer.started >= now - s.window_s:
            window = self._window.setdefault(offer.queue, [])
            if window and window[0].started < now - s.window_s:     # bounded even with no snapshot()
                del window[:bisect_left(window, now - s.window_s, key=_by_start)]
            insort(window, offer, key=_by_start)
        self.counters["counted"] += 1
        return True

    def load(self, records: Iterable[CallRecord]) -> int:
        """record_finished for each record (restart recovery from the store); returns how many counted."""
        return sum(self.record_finished(r) for r in records)

    def set_live(self, *, waiting: Mapping[str, Iterable[float | datetime]] | None = None,
                 agents: Iterable[AgentInput] = (), line_queues: Iterable[str] = ()) -> None:
        """Replace the live state: waiting calls' start times per queue, every agent, queues with a line.

        A queue named by no line, no agent and no waiting call is SMDR-only: its live figures are
        unavailable. Agents with a state outside AGENT_STATES are dropped and counted.
        """
        self._live, dropped = LiveInputs.build(waiting, agents, line_queues)
        self.counters["bad_agent_state"] += dropped

    # ---- output --------------------------------------------------------------------------

    def queues(self, now: float) -> list[str]:
        today = self._days.get(local_date(now, self.tz))
        names = set(self.settings) | set(self._live.fed)
        names |= {q for q, offers in self._window.items() if offers}
        if today is not None:
            names |= set(today.counts)
        return sorted(names)

    def snapshot(self, now: float | datetime | None = None) -> dict[str, QueueSnapshot]:
        """Every queue's figures at `now` (default: the clock)."""
        now = self.clock() if now is None else to_posix(now)
        self._prune(now)
        day = local_date(now, self.tz)
        since, until = day_bounds(day, self.tz)
        bucket = self._days.get(day)
        out = {}
        for q in self.queues(now):
            s = settings_for(self.settings, q)
            counts = bucket.counts.get(q) if bucket is not None else None
            out[q] = QueueSnapshot(q, s, live_figures(q, self._live, now), self._window_stats(q, s, now),
                                   (counts or PeriodCounts(s)).stats(since, until))
        return out

    def day_stats(self, day: date) -> dict[str, PeriodStats]:
        """A kept day's figures per queue (today or yesterday; {} for a day no longer kept)."""
        bucket = self._days.get(day)
        today = local_date(self.clock(), self.tz)
        if bucket is None and not today - timedelta(days=1) <= day <= today:
            return {}
        counts = bucket.counts if bucket is not None else {}
        since, until = day_bounds(day, self.tz)
        return {q: (counts.get(q) or PeriodCounts(settings_for(self.settings, q))).stats(since, until)
                for q in sorted(set(self.settings) | set(counts))}

    def alerts(self, now: float | datetime | None = None) -> list[Alert]:
        """Alert changes since the last call: raised once on crossing, cleared once past the hysteresis.

        Service level: the rolling window's. Longest wait and calls waiting: live, so an SMDR-only
        queue has only the service-level alert (a raised live alert clears if the live feed goes).
        """
        out = []
        snaps = self.snapshot(now)
        for q, snap in snaps.items():
            live = snap.live
            values = {"service_level_pct": snap.window.service_level_pct,
                      "longest_wait_s": (live.longest_wait_now_s or 0.0) if live.live_available else None,
                      "waiting": live.waiting}
            out += self.alert_state.update(q, snap.settings, values)
        for q in sorted({a.queue for a in self.alert_state.active()} - set(snaps)):
            out += self.alert_state.clear_queue(q)      # raised under settings this engine no longer has
        return out

    def active_alerts(self) -> list[Alert]:
        """Alerts raised and not yet cleared (what a SiteSnapshot carries)."""
        return self.alert_state.active()

    def to_pb(self, now: float | datetime | None = None) -> list:
        """appliance.v1.live_pb2.QueueStats of every queue at `now`."""
        return [snap.to_pb() for snap in self.snapshot(now).values()]

    # ---- internals -----------------------------------------------------------------------

    def _day_of(self, ts: float) -> date:
        """local_date(ts, tz) with the bounds of recently used days cached (the hot path)."""
        for since, until, day in self._day_cache:
            if since <= ts < until:
                return day
        day = local_date(ts, self.tz)
        self._day_cache = [(*day_bounds(day, self.tz), day)] + self._day_cache[:3]
        return day

    def _window_stats(self, queue: str, s: QueueSettings, now: float) -> PeriodStats:
        offers = self._window.get(queue, [])
        counts = PeriodCounts(s)
        since = now - s.window_s
        for offer in offers[bisect_left(offers, since, key=_by_start):bisect_left(offers, now, key=_by_start)]:
            counts.add(offer)
        return counts.stats(since, now)

    def _prune(self, now: float) -> None:
        oldest = local_date(now, self.tz) - timedelta(days=1)
        for day in [d for d in self._days if d < oldest]:
            del self._days[day]
        for queue, offers in self._window.items():
            cut = bisect_left(offers, now - settings_for(self.settings, queue).window_s, key=_by_start)
            if cut:
                del offers[:cut]
