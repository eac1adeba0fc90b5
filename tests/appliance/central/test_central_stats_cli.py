"""`appliance central stats`: the figures an integrator recomputes from a central's database equal
the ones the site showed, for the site's own queues, zone and day (a 25-hour day here)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from appliance.central.backends import open_store
from appliance.central.store import RecordBatch
from appliance.stats.snapshot import QueueStatsEngine
from appliance.sync.convert import to_pb
from appliance.v1 import live_pb2
from tests.appliance.stats.daygen import DAY, QUEUES, SITE, TZ, site_day
from tests.appliance.stats.factory import Clock
from tests.helpers.pg_cluster import PASSWORD

FIGURES = ("offered", "answered", "abandoned", "short_abandoned", "unanswered", "service_level_pct",
           "abandon_rate_pct", "asa_s", "aht_s", "longest_wait_s")


def site_config(path, timezone: str = "Europe/London") -> str:
    text = f'[site]\nid = "{SITE}"\ndata_dir = "{path.parent / "data"}"\ntimezone = "{timezone}"\n'
    for q in QUEUES:
        text += (f'[[queue]]\nname = "{q.name}"\nservice_level_s = {q.service_level_s}\n'
                 f'short_abandon_s = {q.short_abandon_s}\nwindow_s = {q.window_s}\n')
    path.write_text(text)
    return str(path)


@dataclass
class Day:
    tmp: Path
    site: dict                  # the figures the site itself had for the day, by queue
    db: str                     # --db: a SQLite file or a PostgreSQL URL
    env: dict


@pytest.fixture(scope="module")
def central(backend, request, tmp_path_factory) -> Day:
    """A central database (each backend) holding one site's day (each record once, as the central
    stores them), and the figures the site itself had for that day."""
    tmp = tmp_path_factory.mktemp(f"central-stats-{backend}")
    if backend == "postgres":
        pg = request.getfixturevalue("pg")
        db_arg, env, password = pg.url(pg.new_database()), {**os.environ, "PGPASSWORD": PASSWORD}, PASSWORD
    else:
        db_arg, env, password = str(tmp / "central.db"), dict(os.environ), None
    day = site_day(20261025)
    engine = QueueStatsEngine(QUEUES, tz=TZ, clock=Clock(day[0].at))
    rows: dict[str, tuple[str, bytes]] = {}
    for e in day:
        engine.clock.set(e.at)
        engine.record_finished(e.record)
        rows[e.record.key] = (e.record.started_at, to_pb(e.record).SerializeToString())
    # What the site last told the central live, on the day after (one hour past its midnight):
    # its queues with their settings, and when its day began.
    engine.clock.set(datetime(DAY.year, DAY.month, DAY.day + 1, 1, tzinfo=TZ))
    snapshot = live_pb2.SiteSnapshot(queues=engine.to_pb()).SerializeToString()
    db = open_store(db_arg, password=password)
    try:
        db.store_live("2026-10-26T01:00:00Z", [], {SITE: snapshot}, origin="test")
        db.store_records(SITE, "2026-10-26T03:00:00Z", RecordBatch(
            list(rows), [s for s, _ in rows.values()], [w for _, w in rows.values()]))
        db.store_records("site-b", "2026-10-26T03:00:00Z", RecordBatch(   # another site: not counted
            list(rows)[:50], [s for s, _ in list(rows.values())[:50]], [w for _, w in list(rows.values())[:50]]))
    finally:
        db.close()
    return Day(tmp, engine.day_stats(DAY), db_arg, env)


def stats(day: Day, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", "central", "stats", "--db", day.db, *args],
                          capture_output=True, text=True, timeout=60, env=day.env)


def test_a_day_recomputed_at_the_central_equals_the_sites_figures(central):
    tmp, site = central.tmp, central.site
    out = stats(central, "--site", SITE, "--config", site_config(tmp / "a.toml"),
                "--day", DAY.isoformat(), "--json")
    assert out.returncode == 0, out.stderr
    got = {row["queue"]: row for row in map(json.loads, out.stdout.splitlines())}
    assert sorted(got) == sorted(site) == ["billing", "sales", "support"]
    for queue, figures in site.items():
        assert figures.offered > 0
        for name in FIGURES:
            assert got[queue][name] == getattr(figures, name), (queue, name)
        assert (got[queue]["since"], got[queue]["until"]) == (figures.since, figures.until)


def test_a_period_by_times_and_one_queue_as_a_table(central):
    tmp, site = central.tmp, central.site
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ).isoformat()
    end = datetime(DAY.year, DAY.month, DAY.day + 1, tzinfo=TZ).isoformat()
    out = stats(central, "--site", SITE, "--config", site_config(tmp / "b.toml"),
                "--since", start, "--until", end, "--queue", "sales")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].split()[0] == "queue" and len(lines) == 3
    row = lines[2].split()
    assert row[0] == "sales" and int(row[1]) == site["sales"].offered and int(row[2]) == site["sales"].answered


def test_without_the_sites_config_its_reported_settings_and_offset_are_used(central):
    """An integrator at the central need not hold the site's config: the service level and
    short-abandon times, and the UTC offset of the site's day, come from its last statistics."""
    site = central.site
    out = stats(central, "--site", SITE, "--json", "--day", DAY.isoformat(),
                "--tz", "Europe/London")
    assert out.returncode == 0, out.stderr
    got = {row["queue"]: row for row in map(json.loads, out.stdout.splitlines())}
    for queue, figures in site.items():
        for name in FIGURES:
            assert got[queue][name] == getattr(figures, name), (queue, name)
    # without --tz: the offset the site reported (UTC+00:00 the day after the clocks went back)
    out = stats(central, "--site", SITE, "--json", "--day", "2026-10-26")
    assert out.returncode == 0 and "UTC+00:00" in out.stderr, out.stderr
    unknown = stats(central, "--site", "site-x", "--day", "2026-10-26")
    assert unknown.returncode == 1 and "pass --config" in unknown.stderr


def test_the_sites_zone_decides_the_day(central):
    """The same day in another zone is another set of calls: the zone comes from the site's config."""
    tmp, site = central.tmp, central.site
    out = stats(central, "--site", SITE, "--json", "--day", DAY.isoformat(),
                "--config", site_config(tmp / "c.toml", timezone="America/New_York"))
    assert out.returncode == 0, out.stderr
    offered = {r["queue"]: r["offered"] for r in map(json.loads, out.stdout.splitlines())}
    assert offered != {q: s.offered for q, s in site.items()}


def test_mistakes_are_one_clear_line(central, tmp_path):
    tmp = central.tmp
    conf = site_config(tmp / "d.toml")
    missing = stats(Day(tmp, {}, str(tmp_path / "nothing.db"), central.env), "--site", SITE, "--config", conf)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert not (tmp_path / "nothing.db").exists()                         # nothing created
    no_config = stats(central, "--site", SITE, "--config", str(tmp_path / "none.toml"))
    assert no_config.returncode == 1 and "no such file" in no_config.stderr
    backwards = stats(central, "--site", SITE, "--config", conf,
                      "--since", "2026-10-26", "--until", "2026-10-25")
    assert backwards.returncode == 1 and "before" in backwards.stderr and "Traceback" not in backwards.stderr
    half = stats(central, "--site", SITE, "--config", conf, "--since", "2026-10-25")
    assert half.returncode == 2 and "--until" in half.stderr
