"""`appliance central stats`: a site's queue figures for any period, recomputed from the records the central stored.

The figures follow the site's own definitions (docs/queue-stats.md) with the site's own `[[queue]]`
settings and time zone, so a day recomputed here equals the "today" the site's wallboards showed at
the end of that day. The settings come from the site's configuration file (`--config`), or else from
the queue statistics the site last sent to this central (service level and short-abandon times per
queue, and the UTC offset of its day; `--tz` names the zone for days across a DST change).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.central.db_args import add_db_arguments, open_reader

FIGURES = ("offered", "answered", "abandoned", "short_abandoned", "unanswered", "service_level_pct",
           "abandon_rate_pct", "asa_s", "aht_s", "longest_wait_s")
HEADINGS = ("queue", "offered", "answered", "abandoned", "short", "unanswered", "SL %", "abandon %",
            "ASA s", "AHT s", "longest s")


def _bound(text: str) -> date | datetime:
    """YYYY-MM-DD (the day's first instant in the site's zone) or an ISO time (naive = site's zone)."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO time, got {text!r}") from None


def stats_main(argv: list[str]) -> int:
    prog = "appliance central stats"
    parser = argparse.ArgumentParser(prog=prog, description="Recompute one site's queue figures from "
                                     "the records a central stored, with the site's [[queue]] settings.")
    add_db_arguments(parser)
    parser.add_argument("--site", required=True, help="the site id (queue names are per site)")
    parser.add_argument("--config", metavar="FILE",
                        help="the site's appliance.toml: its [[queue]] tables and [site] timezone are used "
                             "(default: the settings in the statistics the site last sent here)")
    parser.add_argument("--queue", help="only this queue")
    parser.add_argument("--day", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="one site day (default: today in the site's zone)")
    parser.add_argument("--since", type=_bound, metavar="WHEN", help="period start (instead of --day)")
    parser.add_argument("--until", type=_bound, metavar="WHEN", help="period end, exclusive (with --since)")
    parser.add_argument("--tz", help="IANA zone of the site's days (default: the config's [site] timezone, "
                                     "else the offset the site last reported)")
    parser.add_argument("--json", action="store_true", help="one JSON object per queue")
    args = parser.parse_args(argv)
    if (args.since is None) != (args.until is None) or (args.day is not None and args.since is not None):
        parser.error("give --day, or --since with --until")

    from appliance.stats.recompute import recompute, recompute_day
    from appliance.sync.convert import from_pb
    from appliance.v1 import cdr_pb2
    store = open_reader(args, prog, "appliance-central-stats")
    if store is None:
        return 1
    try:
        queues, tz = _site_settings(args, store, prog)
    except (SettingsError, ZoneInfoNotFoundError, ValueError) as exc:
        store.close()
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    if args.queue is not None and args.queue not in queues:
        print(f"{prog}: note: the site has no settings for queue {args.queue!r}; default settings used",
              file=sys.stderr)
    rejected: list = []
    try:
        records = (from_pb(cdr_pb2.CallRecord.FromString(s.payload)) for s in store.records(args.site))
        if args.since is not None:
            figures = recompute(records, queues, args.since, args.until, tz, queue=args.queue, rejected=rejected)
        else:
            day = args.day or datetime.now(tz).date()
            figures = recompute_day(records, queues, day, tz, queue=args.queue, rejected=rejected)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if rejected:
        print(f"{prog}: {len(rejected)} stored record(s) could not be counted (first: {rejected[0]})",
              file=sys.stderr)
    _print(figures, as_json=args.json)
    return 0


class SettingsError(Exception):
    """Neither a configuration nor statistics from the site: the figures would use made-up settings."""


def _site_settings(args, store, prog: str) -> tuple[dict, tzinfo]:
    """The site's queue settings and zone: from --config, else from its last statistics here."""
    if args.config:
        from appliance.config import ConfigError, load_config
        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            raise SettingsError(str(exc)) from None
        return {q.name: q for q in cfg.queue}, _zone(args.tz or cfg.site.timezone)
    from appliance.stats.settings import QueueSettings
    from appliance.v1 import live_pb2
    payload = store.site_snapshots().get(args.site)
    if payload is None:
        raise SettingsError(f"no statistics from site {args.site!r} at this central to take its queue "
                            f"settings from: pass --config with the site's appliance.toml")
    snapshot = live_pb2.SiteSnapshot.FromString(payload)
    queues = {q.queue: QueueSettings(q.queue, service_level_s=q.service_level_s or 20,
                                     short_abandon_s=q.short_abandon_s, window_s=max(q.window_s, 60))
              for q in snapshot.queues}
    if args.tz:
        return queues, ZoneInfo(args.tz)
    midnight = next((q.today.since for q in snapshot.queues if q.today.since), "")
    if not midnight:
        raise SettingsError("the site's statistics do not say when its day starts: pass --tz")
    start = datetime.fromisoformat(midnight.replace("Z", "+00:00"))
    offset = timedelta(seconds=-((start.hour * 60 + start.minute) * 60 % 86400))
    if offset < timedelta(hours=-12):
        offset += timedelta(days=1)
    zone = timezone(offset)
    print(f"{prog}: note: days taken as UTC{_offset_text(offset)}, the offset the site last reported "
          f"(pass --tz ZONE for days across a DST change)", file=sys.stderr)
    return queues, zone


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _zone(name: str):
    return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo


def _print(figures: dict, *, as_json: bool) -> None:
    out = sys.stdout
    if as_json:
        for name, s in figures.items():
            out.write(json.dumps({"queue": name, "since": s.since, "until": s.until,
                                  **{f: getattr(s, f) for f in FIGURES}}) + "\n")
        out.flush()
        return
    first = next(iter(figures.values()), None)
    if first is not None:
        out.write(f"{first.since} .. {first.until}\n")
    rows = [HEADINGS] + [(name, *(_cell(getattr(s, f)) for f in FIGURES)) for name, s in figures.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADINGS))]
    for r in rows:
        out.write("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + "\n")
    out.flush()


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)
