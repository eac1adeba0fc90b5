"""Live per-queue statistics (waiting calls, agents, service level) from the tracker and finished calls."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from appliance.calls.tracker import CallTracker
from appliance.calls.record import CallRecord


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One queue at one moment. Percentages are None while nothing was offered in the window."""
    queue: str
    calls_waiting: int           # inbound calls ringing now
    longest_wait_s: int          # of those, the longest so far
    agents_busy: int             # lines in a call (answered, on hold, or dialling out)
    agents_free: int             # lines up and idle, or ringing (someone can pick up)
    agents_down: int             # lines the daemon cannot reach
    offered: int                 # answered + abandoned inbound calls that ended in the window
    answered: int
    abandoned: int
    answered_within_sl: int
    service_level_pct: float | None
    abandon_rate_pct: float | None
    window_s: float
    service_level_s: float


@dataclass(frozen=True, slots=True)
class _Outcome:
    ended: datetime
    answered: bool
    within_sl: bool


def _parse(iso: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


class QueueStats:
    """Counts finished inbound calls over a sliding window and reads live calls from the tracker.

    Offered = answered + abandoned inbound calls whose ended_at falls in the last `window_s`
    (busy/failed calls are left out). A PBX call counts once: only leg 0 (line calls) or 1.
    Service level = answered with ring_s <= service_level_s, over offered.
    """

    MAX_KEPT = 50_000   # per queue: bounds memory if snapshot() is never called

    def __init__(self, tracker: CallTracker | None = None, *, window_s: float = 3600.0,
                 service_level_s: float | None = None, service_levels: dict[str, float] | None = None):
        self.tracker = tracker
        self.window_s = window_s
        self.service_level_s = 20.0 if service_level_s is None else service_level_s   # queues not listed
        self.service_levels = dict(service_levels or {})      # [[queue]] service_level_s by name
        self._outcomes: dict[str, list[_Outcome]] = defaultdict(list)

    def record(self, records: Iterable[CallRecord]) -> None:
        """Feed finished records (the tracker's output); anything not an inbound offer is ignored."""
        for rec in records:
            if rec.direction != "inbound" or rec.leg > 1 or rec.disposition not in ("answered", "abandoned"):
                continue
            ended = _parse(rec.ended_at)
            if ended is None:
                continue
            answered = rec.disposition == "answered"
            self._outcomes[rec.queue].append(
                _Outcome(ended, answered, answered and rec.ring_s <= self._level(rec.queue)))
            outcomes = self._outcomes[rec.queue]
            if len(outcomes) > self.MAX_KEPT:   # snapshot() was not called for a long time
                outcomes.sort(key=lambda o: o.ended)
                del outcomes[:len(outcomes) - self.MAX_KEPT]

    def _prune(self, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.window_s)
        for queue, outcomes in self._outcomes.items():
            if outcomes and min(o.ended for o in outcomes) <= cutoff:
                self._outcomes[queue] = [o for o in outcomes if o.ended > cutoff]

    def snapshot(self, now: datetime) -> dict[str, QueueSnapshot]:
        now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
        self._prune(now)
        waiting: dict[str, list[float]] = defaultdict(list)
        agents: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])   # busy, free, down
        for line in (self.tracker.lines() if self.tracker is not None else ()):
            counts = agents[line.queue]
            call = line.call
            if not line.up:
                counts[2] += 1
            elif call is None or call.state == "ringing":
                counts[1] += 1
            else:
                counts[0] += 1
            if call is not None and call.direction == "inbound" and call.state == "ringing":
                waiting[line.queue].append((now - call.started_at).total_seconds())
        out = {}
        for queue in sorted(set(agents) | set(self._outcomes) | set(waiting)):
            outcomes = self._outcomes.get(queue, [])
            answered = sum(o.answered for o in outcomes)
            within = sum(o.within_sl for o in outcomes)
            offered = len(outcomes)
            busy, free, down = agents.get(queue, (0, 0, 0))
            waits = waiting.get(queue, [])
            out[queue] = QueueSnapshot(
                queue=queue, calls_waiting=len(waits), longest_wait_s=max(0, int(max(waits, default=0))),
                agents_busy=busy, agents_free=free, agents_down=down, offered=offered, answered=answered,
                abandoned=offered - answered, answered_within_sl=within,
                service_level_pct=_pct(within, offered), abandon_rate_pct=_pct(offered - answered, offered),
                window_s=self.window_s, service_level_s=self._level(queue))
        return out

    def _level(self, queue: str) -> float:
        return self.service_levels.get(queue, self.service_level_s)
