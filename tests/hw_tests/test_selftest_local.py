"""Self-test checks of the box itself: config summary, clock, system, data directory, record store."""
from __future__ import annotations

import errno
import sqlite3
from datetime import datetime, timezone

from appliance.config import parse_config
from appliance.calls.record import CallRecord
from appliance.store import DB_NAME, Store
from appliance.store.schema import SCHEMA_VERSION
from hw_tests.checks_clock import ClockState, check_clock, read_clock_state, read_kernel_ntp
from hw_tests.checks_storage import DiskThresholds, check_data_dir, check_store
from hw_tests.checks_system import SystemSnapshot, check_config, check_system, read_system
from hw_tests.result import Status

T0 = 1_800_000_000.0
HOUR = 3600.0


def record(key: str, source: str = "pbx1") -> CallRecord:
    return CallRecord(key=key, site_id="site-a", source=source, source_kind="panasonic",
                      direction="inbound", caller="+15551234567", callee="201", dialled_number="",
                      queue="sales", agent="201", started_at="2026-11-22T12:00:00Z",
                      answered_at="2026-11-22T12:00:05Z", ended_at="2026-11-22T12:03:00Z",
                      ring_s=5, talk_s=175, hold_s=0, disposition="answered")


# ---- config, clock, system --------------------------------------------------------------

def test_config_check_summarises_what_the_config_describes():
    cfg = parse_config('[site]\nid = "site-a"\ndata_dir = "/srv/data"\n'
                       '[[line]]\nname = "gsm1"\nport = "/dev/ttyUSB2"\n'
                       '[[pbx]]\nname = "pbx1"\nformat = "panasonic"\nport = "/dev/ttyUSB0"\n',
                       "/etc/appliance/appliance.toml")
    result = check_config(cfg)
    assert result.status is Status.PASS
    assert result.detail == ("/etc/appliance/appliance.toml: site site-a, 1 PBX feed(s), 1 line(s), "
                             "no central configured, data in /srv/data")


def test_unsynchronised_clock_warns_with_the_ntp_hint():
    now = lambda: datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)  # noqa: E731
    result = check_clock(lambda: ClockState(False, "kernel NTP state", 16000.0), now)
    assert result.status is Status.WARN
    assert "not synchronised" in result.detail and "2026-11-22 12:00:00 UTC" in result.detail
    assert "enable systemd-timesyncd or chrony" in result.hint


def test_synchronised_clock_passes_and_an_unreadable_one_warns():
    assert check_clock(lambda: ClockState(True, "kernel NTP state", 12.0)).status is Status.PASS
    unknown = check_clock(lambda: ClockState(None, "", note="adjtimex: Operation not permitted"))
    assert unknown.status is Status.WARN and "Operation not permitted" in unknown.detail
    assert "chrony" in unknown.hint


def test_the_kernel_ntp_state_is_read_for_real():
    state = read_kernel_ntp()
    assert state.synchronised in (True, False)
    # The kernel caps maxerror at 16 s; a wrong struct layout would read some other field here.
    assert 0 <= state.max_error_ms <= 16_000


def forbidden() -> ClockState:
    raise OSError(errno.EPERM, "adjtimex: Operation not permitted")    # as under ProtectClock=yes


def test_clock_reading_falls_back_when_the_kernel_call_is_forbidden(tmp_path):
    fallback = read_clock_state((forbidden, lambda: ClockState(False, "timedatectl")), str(tmp_path / "flag"))
    assert fallback == ClockState(False, "timedatectl")
    (tmp_path / "flag").touch()
    assert read_clock_state((forbidden,), str(tmp_path / "flag")).synchronised is True
    unknown = read_clock_state((forbidden,), str(tmp_path / "no-flag"))
    assert unknown.synchronised is None and "Operation not permitted" in unknown.note


def test_system_passes_without_temperature_sensors():
    result = check_system(lambda: SystemSnapshot(0.3, 4, 40.0, 50.0, {}))
    assert result.status is Status.PASS
    assert "no temperature sensors" in result.detail and "memory 40% used" in result.detail


def test_system_warns_when_hot_or_short_of_memory():
    hot = check_system(lambda: SystemSnapshot(0.3, 4, 40.0, 50.0, {"coretemp/Package id 0": 91.0,
                                                                   "acpitz/0": 60.0}))
    assert hot.status is Status.WARN
    assert "coretemp/Package id 0 91 °C" in hot.detail and "give it air" in hot.hint
    full = check_system(lambda: SystemSnapshot(0.3, 4, 95.0, 50.0, {}))
    assert full.status is Status.WARN and "memory 95% used" in full.detail and "top" in full.hint


def test_system_reads_the_real_box():
    snapshot = read_system()
    assert snapshot.cpus >= 1 and 0 <= snapshot.memory_percent <= 100
    assert check_system(read_system).status in (Status.PASS, Status.WARN)


# ---- data directory ---------------------------------------------------------------------

def test_writable_data_dir_with_room_passes_and_reports_fsync_latency(tmp_path):
    result = check_data_dir(str(tmp_path), DiskThresholds(warn_free_bytes=0, warn_free_fraction=0,
                                                          fail_free_bytes=0, fsync_warn_ms=1e9))
    assert result.status is Status.PASS
    assert "writable" in result.detail and "free" in result.detail and "write+fsync p50" in result.detail
    assert list(tmp_path.iterdir()) == []          # the probe file is gone


def test_data_dir_full_fails_and_nearly_full_warns(tmp_path):
    full = check_data_dir(str(tmp_path), DiskThresholds(fail_free_bytes=1 << 62, fsync_warn_ms=1e9))
    assert full.status is Status.FAIL and "disk holding the data directory is full" in full.hint
    tight = check_data_dir(str(tmp_path), DiskThresholds(warn_free_bytes=1 << 62, fail_free_bytes=0,
                                                         fsync_warn_ms=1e9))
    assert tight.status is Status.WARN and "getting full" in tight.hint


def test_slow_fsync_warns(tmp_path):
    result = check_data_dir(str(tmp_path), DiskThresholds(warn_free_bytes=0, warn_free_fraction=0,
                                                          fail_free_bytes=0, fsync_warn_ms=-1))
    assert result.status is Status.WARN and "slow to make writes durable" in result.hint


def test_missing_data_dir_warns_and_a_file_in_its_place_fails(tmp_path):
    roomy = DiskThresholds(warn_free_bytes=0, warn_free_fraction=0, fail_free_bytes=0)
    missing = check_data_dir(str(tmp_path / "nope"), roomy)
    assert missing.status is Status.WARN and "does not exist yet" in missing.detail
    assert "install -d" in " ".join(missing.hint.split())
    (tmp_path / "file").write_text("x")
    assert check_data_dir(str(tmp_path / "file")).status is Status.FAIL


# ---- record store -----------------------------------------------------------------------

def store_with(tmp_path, records, now=T0) -> Store:
    store = Store(tmp_path, site_id="site-a", now=lambda: now)
    store.add(records)
    return store


def test_store_without_backlog_passes(tmp_path):
    with store_with(tmp_path, [record("k1")]) as store:
        store.mark_delivered([i for i, _ in store.pending()])
    result = check_store(str(tmp_path), "site-a", now=lambda: T0 + 100 * HOUR)
    assert result.status is Status.PASS
    assert f"quick_check ok, schema v{SCHEMA_VERSION}" in result.detail and "none waiting" in result.detail


def test_store_backlog_older_than_an_hour_warns_and_older_than_a_day_fails(tmp_path):
    store_with(tmp_path, [record("k1"), record("k2")]).close()
    fresh = check_store(str(tmp_path), "site-a", now=lambda: T0 + 600)
    assert fresh.status is Status.PASS and "2 record(s) waiting" in fresh.detail
    late = check_store(str(tmp_path), "site-a", now=lambda: T0 + 2 * HOUR)
    assert late.status is Status.WARN and "oldest 2 h old" in late.detail
    assert "central:* checks" in late.hint
    stale = check_store(str(tmp_path), "site-a", now=lambda: T0 + 30 * HOUR)
    assert stale.status is Status.FAIL and "more than a day behind" in stale.hint


def test_dead_letters_warn(tmp_path):
    with store_with(tmp_path, [record("k1")]) as store:
        store.mark_rejected([(store.pending()[0][0], "bad queue")])
    result = check_store(str(tmp_path), "site-a", now=lambda: T0)
    assert result.status is Status.WARN and "1 record(s) refused by the central" in result.detail
    assert "appliance outbox replay --rejected" in result.hint


def test_damaged_database_fails_with_the_restart_hint(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database, it is a scrap of something" * 100)
    result = check_store(str(tmp_path), "site-a")
    assert result.status is Status.FAIL
    assert "damage" in result.detail and "moves a damaged database aside" in result.hint
    assert (tmp_path / DB_NAME).read_bytes().startswith(b"this is not")     # the check changed nothing


def test_database_from_a_newer_release_fails(tmp_path):
    store_with(tmp_path, []).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    result = check_store(str(tmp_path), "site-a")
    assert result.status is Status.FAIL and "newer than this release" in result.detail


def test_no_database_fails_says_where_it_looked_and_creates_nothing(tmp_path):
    result = check_store(str(tmp_path), "site-a")
    assert result.status is Status.FAIL and "systemctl start appliance" in result.hint
    assert f"no database at {tmp_path / DB_NAME}" in result.detail
    assert list(tmp_path.iterdir()) == []
    mistyped = tmp_path / "no" / "such" / "dir"
    result = check_store(str(mistyped), "site-a")
    assert result.status is Status.FAIL and "site.data_dir" in result.hint
    assert not (tmp_path / "no").exists()


def test_reading_the_store_creates_no_file(tmp_path):
    store_with(tmp_path, [record("k1")]).close()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert before == [DB_NAME]                      # a cleanly closed store: no -wal, no -shm
    result = check_store(str(tmp_path), "site-a", now=lambda: T0)
    assert result.status is Status.PASS, result
    assert sorted(p.name for p in tmp_path.iterdir()) == before
