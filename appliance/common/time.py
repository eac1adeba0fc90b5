"""Time, written once: aware UTC, a PBX's local time to UTC, ISO 8601 UTC text, parsing it back."""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo


def utc_now() -> datetime:
    """The real wall clock, for the wiring at the top; pure code takes its time as an argument."""
    return datetime.now(timezone.utc)


def as_utc(dt: datetime) -> datetime:
    """Injected times must be aware; a naive one is taken as UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def local_to_utc(dt: datetime, tz: tzinfo) -> datetime:
    """A PBX's wall-clock time to UTC. In the repeated DST hour the first occurrence is taken."""
    return dt.replace(tzinfo=tz).astimezone(timezone.utc) if dt.tzinfo is None else as_utc(dt)


def iso_utc(when: datetime | float | None, digits: int = 0) -> str:
    """"2026-11-22T12:00:00Z" (digits=0), with 3 or 6 fractional digits; an epoch float is accepted.

    None gives "" (a time that does not apply, as in answered_at of an unanswered call).
    """
    if when is None:
        return ""
    u = datetime.fromtimestamp(when, timezone.utc) if isinstance(when, (int, float)) else \
        when.astimezone(timezone.utc)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    if digits:
        text += f".{u.microsecond:06d}"[:digits + 1]
    return text + "Z"


def parse_iso(text: str) -> datetime:
    """Our own ISO 8601 UTC text back to an aware datetime (ValueError when it is not one)."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
