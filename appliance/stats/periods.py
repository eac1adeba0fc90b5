"""The period figures of a queue: which records count, how, and the formulas (docs/queue-stats.md).

One definition for both sides: the site adds records as calls finish (PeriodCounts.add) and
the central recomputes from stored records with the same two functions, `offer_of` and
`PeriodCounts`. Counts and sums are integers, so the order records arrive in cannot change
a figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import NamedTuple

from appliance.calls.record import DISPOSITIONS, CallRecord

from appliance.stats.settings import QueueSettings

ANSWERED, ABANDONED, UNANSWERED = "answered", "abandoned", "unanswered"


class InvalidRecord(ValueError):
    """A record the figures cannot use (unreadable start time, negative duration, unknown disposition)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"record {key!r}: {reason}")
        self.key = key
        self.reason = reason


class Offer(NamedTuple):
    """One call offered to a queue, reduced to what the figures need (thresholds not yet applied).

    outcome: "answered" (an agent answered), "abandoned" (the caller hung up before an answer),
    "unanswered" (the system ended it unanswered: busy, no_answer, failed, or picked up by no agent).
    """
    site_id: str
    key: str
    queue: str
    started: float          # POSIX seconds of started_at: decides which periods the call belongs to
    outcome: str
    wait_s: int             # ring_s: from the call reaching the site/PBX to answer or hang-up
    handle_s: int           # talk_s + hold_s + wrap_up_s of an answered call, else 0


def parse_utc(text: str) -> float:
    """RFC 3339 / ISO 8601 text to POSIX seconds; a naive time is UTC. ValueError if unreadable."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso_utc(ts: float) -> str:
    """POSIX seconds to RFC 3339 UTC ("...Z"); milliseconds only when the time has a fraction."""
    dt = datetime.fromtimestamp(ts, timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def offer_of(record: CallRecord) -> Offer | None:
    """The record as an offer to its queue, or None when it is not one.

    Counted: direction "inbound", a queue named, and the call's first leg (leg 0 for line and
    Panasonic calls, leg 1 for a PBX call with several legs: later legs of the same pbx_call_id
    are the same caller after a transfer and are not offered again). Raises InvalidRecord for
    a counted record the figures cannot use.
    """
    if record.direction != "inbound" or not record.queue or record.leg > 1:
        return None
    if record.disposition not in DISPOSITIONS:
        raise InvalidRecord(record.key, f"unknown disposition {record.disposition!r}")
    try:
        started = parse_utc(record.started_at)
    except (TypeError, ValueError):
        raise InvalidRecord(record.key, f"unreadable started_at {record.started_at!r}") from None
    if min(record.ring_s, record.talk_s, record.hold_s, record.wrap_up_s) < 0:
        raise InvalidRecord(record.key, "negative duration")
    reached_agent = bool(record.agent) and (record.disposition == "answered" or bool(record.answered_at))
    if reached_agent:
        outcome = ANSWERED
        handle = record.talk_s + record.hold_s + record.wrap_up_s
    else:
        outcome = ABANDONED if record.disposition == "abandoned" else UNANSWERED
        handle = 0
    return Offer(record.site_id, record.key, record.queue, started, outcome, record.ring_s, handle)


def local_date(ts: float, tz: tzinfo) -> date:
    """The site's calendar day of an instant."""
    return datetime.fromtimestamp(ts, tz).date()


def day_bounds(day: date, tz: tzinfo) -> tuple[float, float]:
    """[first instant of `day`, first instant of the next day) in the site's zone, as POSIX seconds.

    DST-safe: a day is 23, 24 or 25 hours long; a midnight skipped by a DST jump starts the day
    at the first wall-clock time that exists (zoneinfo's fold=0 rule).
    """
    def start(d: date) -> float:
        return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
    return start(day), start(day + timedelta(days=1))


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _mean(total: int, count: int) -> float | None:
    return total / count if count else None


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """The figures of one queue over [since, until). A figure with nothing to measure is None."""
    queue: str
    since: str
    until: str
    offered: int                  # answered + abandoned + unanswered (short abandons excluded)
    answered: int
    abandoned: int                # caller hung up unanswered after >= short_abandon_s
    short_abandoned: int          # caller hung up unanswered within short_abandon_s: in no other figure
    unanswered: int               # ended by the system unanswered (busy, no_answer, failed, no agent)
    answered_within_sl: int       # answered with wait_s <= service_level_s
    abandoned_after_sl: int       # abandoned with wait_s > service_level_s
    service_level_pct: float | None   # 100 * answered_within_sl / offered
    abandon_rate_pct: float | None    # 100 * abandoned / offered
    asa_s: float | None           # sum of wait_s of answered / answered
    aht_s: float | None           # sum of (talk_s + hold_s + wrap_up_s) of answered / answered
    longest_wait_s: int | None    # max wait_s over offered calls

    def to_pb(self, msg=None):
        """Fill (or make) an appliance.v1.live_pb2.PeriodStats; a None figure sends has_* = false."""
        from appliance.v1 import live_pb2
        msg = live_pb2.PeriodStats() if msg is None else msg
        msg.since = self.since
        msg.offered, msg.answered, msg.abandoned = self.offered, self.answered, self.abandoned
        msg.short_abandoned = self.short_abandoned
        msg.answered_within_sl, msg.abandoned_after_sl = self.answered_within_sl, self.abandoned_after_sl
        _optional(msg, "service_level_pct", "has_service_level", self.service_level_pct)
        _optional(msg, "abandon_rate_pct", "has_abandon_rate", self.abandon_rate_pct)
        _optional(msg, "asa_s", "has_asa", self.asa_s)
        _optional(msg, "aht_s", "has_aht", self.aht_s)
        msg.longest_wait_s = float(self.longest_wait_s or 0)
        return msg


def _optional(msg, field: str, has: str, value: float | None) -> None:
    setattr(msg, field, 0.0 if value is None else float(value))
    setattr(msg, has, value is not None)


class PeriodCounts:
    """Integer counts and sums of one queue over one period; add offers in any order."""

    __slots__ = ("settings", "offered", "answered", "abandoned", "short_abandoned", "unanswered",
                 "answered_within_sl", "abandoned_after_sl", "wait_answered", "handle", "longest_wait")

    def __init__(self, settings: QueueSettings):
        self.settings = settings
        self.offered = self.answered = self.abandoned = self.short_abandoned = self.unanswered = 0
        self.answered_within_sl = self.abandoned_after_sl = self.wait_answered = self.handle = 0
        self.longest_wait: int | None = None

    def add(self, offer: Offer) -> None:
        s, wait = self.settings, offer.wait_s
        if offer.outcome == ABANDONED and wait < s.short_abandon_s:
            self.short_abandoned += 1
            return
        self.offered += 1
        if self.longest_wait is None or wait > self.longest_wait:
            self.longest_wait = wait
        if offer.outcome == ANSWERED:
            self.answered += 1
            self.wait_answered += wait
            self.handle += offer.handle_s
            if wait <= s.service_level_s:
                self.answered_within_sl += 1
        elif offer.outcome == ABANDONED:
            self.abandoned += 1
            if wait > s.service_level_s:
                self.abandoned_after_sl += 1
        else:
            self.unanswered += 1

    def stats(self, since: float, until: float) -> PeriodStats:
        return PeriodStats(
            queue=self.settings.name, since=iso_utc(since), until=iso_utc(until), offered=self.offered,
            answered=self.answered, abandoned=self.abandoned, short_abandoned=self.short_abandoned,
            unanswered=self.unanswered, answered_within_sl=self.answered_within_sl,
            abandoned_after_sl=self.abandoned_after_sl,
            service_level_pct=_pct(self.answered_within_sl, self.offered),
            abandon_rate_pct=_pct(self.abandoned, self.offered),
            asa_s=_mean(self.wait_answered, self.answered), aht_s=_mean(self.handle, self.answered),
            longest_wait_s=self.longest_wait)
