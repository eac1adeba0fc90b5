"""The real daemon and the real commands: a corrupt database is salvaged and delivered, commands create
no state and leave no root-owned file, and a second daemon on the same data dir stops at once."""
from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from appliance.calls.record import CallRecord
from appliance.store import Store
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.store_site import SITE, appliance, central_keys, status, stored_keys, write_config
from tests.helpers.waiting import free_port, wait_for

pytestmark = pytest.mark.system


def rec(i: int) -> CallRecord:
    return CallRecord(key=f"{SITE}/ipo/{i:08d}", site_id=SITE, source="ipo", source_kind="avaya-ipo",
                      direction="inbound", caller=f"+4420700{i:05d}", callee="4324", dialled_number="4324",
                      queue="sales", agent="4324", started_at="2026-01-05T09:00:00Z",
                      answered_at="2026-01-05T09:00:07Z", ended_at="2026-01-05T09:01:00Z", ring_s=7,
                      talk_s=53, hold_s=0, disposition="answered", raw=f"raw line {i} " + "x" * 120)


def overwrite_a_record_page(db: Path, n: int) -> set[str]:
    """4 KB of garbage over one page of the cdr table in the middle of the file; returns the keys
    that page held (read from its bytes before: what no salvage can bring back)."""
    conn = sqlite3.connect(db)
    try:
        leaves = [p for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'cdr' AND pagetype = 'leaf' ORDER BY pageno")]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    page = leaves[len(leaves) // 2]
    with open(db, "r+b") as f:
        f.seek((page - 1) * size)
        held = f.read(size)
        f.seek((page - 1) * size)
        f.write(os.urandom(size))
    return {rec(i).key for i in range(n) if rec(i).key.encode() in held}


def selftest_store(config) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hw_tests", "--config", str(config), "--only", "store",
                           "--no-report"], capture_output=True, text=True, timeout=60)


def test_c_a_corrupt_database_is_salvaged_requeued_delivered_and_reported_until_acknowledged(tmp_path):
    pki = make_pki(tmp_path / "pki", site_id=SITE, extra_sites=())
    data = tmp_path / "data"
    with Store(data, site_id=SITE) as store:                  # 3,000 records waiting for the central
        store.add([rec(i) for i in range(3000)])
    lost = overwrite_a_record_page(data / "appliance.db", 3000)
    assert 0 < len(lost) < 100
    everything = {rec(i).key for i in range(3000)}
    with CentralProcess(tmp_path / "central.db", pki=pki) as central:
        config = write_config(tmp_path, data, avaya_port=free_port(), central=central.address, pki=pki,
                              store="ballast_mb = 0")
        with DaemonProcess(config) as daemon:
            daemon.start()
            wait_for(lambda: set(central_keys(central.db_path)) == everything - lost, 60,
                     message="every readable record delivered")
            [moved] = data.glob("appliance.db.corrupt-*[0-9TZ]")
            st = status(tmp_path)
            [report] = st["store"]["salvage"]
            assert report["file"] == str(moved.resolve())
            assert (report["records_recovered"], report["requeued"]) == (3000 - len(lost), 3000 - len(lost))
            assert (report["records_lost"], report["pending_lost"]) == (len(lost), len(lost))
            assert f"{len(lost)} record(s) not recovered" in report["summary"]
            shown = appliance("status", "--config", str(config))
            assert "salvage #1" in shown.stdout and "appliance store acknowledge" in shown.stdout
            check = selftest_store(config)
            assert check.returncode == 1 and "salvage #1" in check.stdout, check.stdout
            assert "appliance store acknowledge" in check.stdout

            ack = appliance("store", "acknowledge", "--config", str(config))
            assert ack.returncode == 0, ack.stderr
            assert "1 salvage report(s) acknowledged by the running daemon" in ack.stdout
            assert status(tmp_path)["store"]["salvage"] == []
            assert selftest_store(config).returncode == 0
            assert daemon.terminate() == 0
            assert "Traceback" not in daemon.log_text()
    assert stored_keys(data, "outbox") == []                  # nothing left to send


STORE_COMMANDS = [("outbox", "stats"), ("outbox", "export"), ("outbox", "replay", "--rejected"),
                  ("store", "reports"), ("store", "acknowledge"), ("store", "salvage", "/nonexistent/file")]


@pytest.mark.parametrize("missing", ["no database", "mistyped data_dir"])
def test_d_commands_on_a_data_dir_without_a_database_create_nothing_and_say_where_they_looked(tmp_path, missing):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    target = data if missing == "no database" else tmp_path / "dtaa"
    config = write_config(tmp_path, target, avaya_port=free_port())
    for command in STORE_COMMANDS:
        out = appliance(*command, "--config", str(config))
        assert out.returncode == 1, (command, out.stdout, out.stderr)
        assert f"no database at {target / 'appliance.db'}" in out.stderr, (command, out.stderr)
        assert "Traceback" not in out.stderr
    assert list(data.iterdir()) == [] and not (tmp_path / "dtaa").exists()


OWNER = 4321            # the appliance user's uid/gid on this imagined box


@pytest.fixture
def owned_data_dir():
    """A data dir owned by another user on a path that user can reach (pytest's tmp is root's 0700)."""
    base = Path(tempfile.mkdtemp(prefix="owned-"))
    os.chmod(base, 0o711)
    data = base / "data"
    yield data
    shutil.rmtree(base)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_d_commands_run_as_root_leave_no_root_owned_file_in_a_data_dir_of_another_user(tmp_path, owned_data_dir):
    data = owned_data_dir
    with Store(data, site_id=SITE) as store:
        ids = store.add([rec(i) for i in range(10)]).inserted
        store.mark_rejected([(ids[0], "refused by the central")])
        store.add([rec(i) for i in range(10, 40)])
    damaged = data / "appliance.db.corrupt-20260101T000000Z"
    with Store(tmp_path / "other", site_id=SITE) as other:
        other.add([rec(i) for i in range(100, 130)])
    shutil.copy(tmp_path / "other" / "appliance.db", damaged)
    for path in [data, *data.iterdir()]:
        os.chown(path, OWNER, OWNER)
    config = write_config(tmp_path, data, avaya_port=free_port())

    stats = appliance("outbox", "stats", "--json", "--config", str(config))
    assert stats.returncode == 0, stats.stderr
    assert '"pending": 39' in stats.stdout and '"dead_letter": 1' in stats.stdout
    export = appliance("outbox", "export", "--what", "dead_letter", "--config", str(config))
    assert export.returncode == 0 and "refused by the central" in export.stdout
    replay = appliance("outbox", "replay", "--rejected", "--config", str(config))
    assert replay.returncode == 0, replay.stderr
    assert "1 dead-lettered record(s) moved back to the outbox by this command (no daemon running)" in replay.stdout
    salvage = appliance("store", "salvage", str(damaged), "--config", str(config))
    assert salvage.returncode == 0, salvage.stderr
    assert "30 record(s) recovered, 30 re-queued" in salvage.stdout
    ack = appliance("store", "acknowledge", "--config", str(config))
    assert ack.returncode == 0 and "1 salvage report(s) acknowledged" in ack.stdout

    owners = {p.name: p.stat().st_uid for p in data.iterdir()}
    assert set(owners.values()) == {OWNER}, owners
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in data.iterdir())
    with Store(data, site_id=SITE, read_only=True) as store:
        assert store.stats()["pending"] == 40 + 30 and store.stats()["dead_letter"] == 0


def test_e_a_second_daemon_on_the_same_data_dir_exits_at_once_naming_the_first(tmp_path):
    avaya = free_port()
    data = tmp_path / "data"
    config = write_config(tmp_path, data, avaya_port=avaya, store="ballast_mb = 0")
    with DaemonProcess(config) as first:
        first.start()
        second = appliance("run", "--config", str(config), timeout=30)    # returns: no retry loop
        assert second.returncode == 1
        assert f"in use by another appliance daemon (pid {first.proc.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        assert "listening" not in second.stdout + second.stderr          # no device touched
        assert status(tmp_path)["devices"][0]["state"] == "UP"             # the first is unharmed
        assert first.terminate() == 0
