"""Time helpers the call state machine shares: aware UTC, PBX local time to UTC, ISO 8601 text."""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo


def as_utc(dt: datetime) -> datetime:
    """Injected times must be aware; a naive one is taken as UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def local_to_utc(dt: datetime, tz: tzinfo) -> datetime:
    """A PBX's wall-clock time to UTC. In the repeated DST hour the first occurrence is taken."""
    return dt.replace(tzinfo=tz).astimezone(timezone.utc) if dt.tzinfo is None else as_utc(dt)


def iso_utc(dt: datetime | None) -> str:
    if dt is None:
        return ""
    u = dt.astimezone(timezone.utc)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"
