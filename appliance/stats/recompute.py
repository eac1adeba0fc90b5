"""The central's side: queue figures recomputed from stored records with the site's definitions."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, tzinfo

from appliance.calls.record import CallRecord

from appliance.stats.periods import InvalidRecord, PeriodCounts, PeriodStats, day_bounds, offer_of
from appliance.stats.settings import QueueSettings, by_name, settings_for


def instant(when: float | date | datetime, tz: tzinfo) -> float:
    """POSIX seconds of a period bound: seconds as given; an aware datetime as is; a naive datetime
    as wall-clock time in `tz` (first occurrence in a repeated hour); a date as its first instant in `tz`."""
    if isinstance(when, datetime):
        return (when if when.tzinfo is not None else when.replace(tzinfo=tz)).timestamp()
    if isinstance(when, date):
        return day_bounds(when, tz)[0]
    return float(when)


def recompute(records: Iterable[CallRecord],
              settings: Iterable[QueueSettings] | Mapping[str, QueueSettings],
              since: float | date | datetime, until: float | date | datetime, tz: tzinfo, *,
              queue: str | None = None,
              rejected: list[InvalidRecord] | None = None) -> dict[str, PeriodStats]:
    """Per-queue figures of the calls that started in [since, until).

    Same rules as the site (appliance.stats.periods): a record counts once per (site_id, key);
    pass one site's records (the figures of two sites' queues of the same name would merge).
    Every configured queue is in the answer, with zero counts and None figures if it had no calls.
    `until` may be a date: the period then ends where that day begins. Records the figures
    cannot use are skipped and, when `rejected` is a list, appended to it.
    """
    conf = by_name(settings)
    start, end = instant(since, tz), instant(until, tz)
    if end < start:
        raise ValueError(f"until ({until}) is before since ({since})")
    seen: set[tuple[str, str]] = set()
    counts: dict[str, PeriodCounts] = {}
    for record in records:
        try:
            offer = offer_of(record)
        except InvalidRecord as exc:
            if rejected is not None:
                rejected.append(exc)
            continue
        if offer is None or not start <= offer.started < end or (queue is not None and offer.queue != queue):
            continue
        ident = (offer.site_id, offer.key)
        if ident in seen:
            continue
        seen.add(ident)
        q = counts.get(offer.queue)
        if q is None:
            q = counts[offer.queue] = PeriodCounts(settings_for(conf, offer.queue))
        q.add(offer)
    names = set(counts) | (set(conf) if queue is None else {queue})
    return {name: (counts.get(name) or PeriodCounts(settings_for(conf, name))).stats(start, end)
            for name in sorted(names)}


def recompute_day(records: Iterable[CallRecord],
                  settings: Iterable[QueueSettings] | Mapping[str, QueueSettings],
                  day: date, tz: tzinfo, *, queue: str | None = None,
                  rejected: list[InvalidRecord] | None = None) -> dict[str, PeriodStats]:
    """The figures of one site day (what the site shows as "today" at the end of that day)."""
    since, until = day_bounds(day, tz)
    return recompute(records, settings, since, until, tz, queue=queue, rejected=rejected)
