"""Hand-built CallRecords and an injected clock for the queue-statistics tests."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from appliance.calls.record import CallRecord

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
_ids = itertools.count(1)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def call(outcome: str = "answered", *, start: datetime | float = 0.0, ring: int = 5, talk: int = 60,
         hold: int = 0, wrap: int = 0, queue: str = "sales", direction: str = "inbound", agent: str | None = None,
         leg: int = 0, final_leg: bool = True, pbx_call_id: str = "", key: str | None = None,
         site: str = "site-a", answered_at: str | None = None) -> CallRecord:
    """One record. outcome: a disposition ("answered", "abandoned", "failed", ...).

    `start` is a datetime or seconds after T0. An answered call has an agent unless agent="" is
    given; answered_at is set for "answered" unless given.
    """
    started = start if isinstance(start, datetime) else T0 + timedelta(seconds=start)
    answered = outcome == "answered"
    if agent is None:
        agent = "4201" if answered else ""
    if answered_at is None:
        answered_at = iso(started + timedelta(seconds=ring)) if answered else ""
    talk = talk if answered_at else 0
    ended = started + timedelta(seconds=ring + talk + hold)
    return CallRecord(
        key=key or f"{site}/src/{next(_ids)}", site_id=site, source="src", source_kind="gsm",
        direction=direction, caller="+15551230000", callee="4300", dialled_number="", queue=queue,
        agent=agent, started_at=iso(started), answered_at=answered_at, ended_at=iso(ended), ring_s=ring,
        talk_s=talk, hold_s=hold, disposition=outcome, pbx_call_id=pbx_call_id, leg=leg,
        final_leg=final_leg, wrap_up_s=wrap)


class Clock:
    """The injected clock: POSIX seconds, moved by the test."""

    def __init__(self, start: datetime = T0):
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime | float) -> float:
        self.now = when.timestamp() if isinstance(when, datetime) else T0.timestamp() + when
        return self.now
