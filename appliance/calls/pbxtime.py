"""PBX wall-clock times to UTC epoch seconds and ISO text, cached per local hour (the SMDR hot path)."""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from appliance.common.time import local_to_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MMSS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))     # second of the hour -> "MM:SS"
_CACHE_MAX = 4096


class PbxClock:
    """What common.time.local_to_utc and iso_utc give, for whole-second naive local times, without
    building a datetime per call: a record's time is the UTC start of its local hour (computed
    once per hour and zone) plus minutes and seconds, and text is a cached day plus HH:MM:SS.

    An hour whose UTC offset is not the same at its first and last second (a transition inside
    it that is not on the hour) is not cached: `epoch` returns None and the caller converts
    that time the slow way. Caches are bounded (cleared when full).
    """

    def __init__(self):
        self._hours: dict[tuple, int | None] = {}
        self._days: dict[int, str] = {}                  # UTC hour number -> "YYYY-MM-DDTHH:"

    def epoch(self, local: datetime, tz: tzinfo) -> int | None:
        """UTC epoch seconds of a naive local time in `tz` (first occurrence in a repeated hour)."""
        if local.tzinfo is not None or local.microsecond:
            return None
        key = (tz, local.year, local.month, local.day, local.hour)
        base = self._hours.get(key, False)
        if base is False:
            if len(self._hours) >= _CACHE_MAX:
                self._hours.clear()
            start = local.replace(minute=0, second=0)
            first = local_to_utc(start, tz)
            last = local_to_utc(start.replace(minute=59, second=59), tz)
            base = self._hours[key] = (int((first - _EPOCH).total_seconds())
                                       if (last - first).total_seconds() == 3599 else None)
        if base is None:
            return None
        return base + local.minute * 60 + local.second

    def iso(self, epoch: int) -> str:
        """"YYYY-MM-DDTHH:MM:SS" of UTC epoch seconds (iso_utc without its "Z")."""
        hour, second = divmod(epoch, 3600)
        date = self._days.get(hour)
        if date is None:
            if len(self._days) >= _CACHE_MAX:
                self._days.clear()
            d = datetime.fromtimestamp(hour * 3600, timezone.utc)
            date = self._days[hour] = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:"
        return date + _MMSS[second]
