"""The real daemon on a real, small tmpfs: a full disk at start or while running never costs a stored
record; input is held at once, the ballast lets what was accepted finish, and it all resumes by itself."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime

import pytest

from firmware_bridge.smdr.emulator import AvayaEmulator
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.store_site import SITE, central_keys, metrics, status, stored_keys, write_config
from tests.helpers.tmpfs import fill, needs_root, tmpfs
from tests.helpers.waiting import free_port, wait_for

pytestmark = [pytest.mark.system, needs_root]


def avaya_records(n: int, seed: int, day: int = 1) -> list:
    return in_output_order(generate_avaya_calls(n, start=datetime(2026, 7, day, 8), seed=seed))[:n]


def status_ticks(daemon: DaemonProcess, n: int) -> None:
    """Wait for n more STATUS= lines (one per tick of the daemon's loop): it has run n times since."""
    def count() -> int:
        return sum(text.startswith("STATUS=") for text in daemon.notifications)
    seen = count()
    wait_for(lambda: count() >= seen + n, 10, message=f"{n} status ticks")


def corrupt_files(data) -> list[str]:
    return sorted(p.name for p in data.glob("appliance.db.corrupt-*"))


def selftest_store(config) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hw_tests", "--config", str(config), "--only", "store",
                           "--no-report"], capture_output=True, text=True, timeout=60)


def test_a_full_disk_at_start_degrades_moves_nothing_and_delivers_all_once_space_returns(tmp_path):
    pki = make_pki(tmp_path / "pki", site_id=SITE, extra_sites=())
    avaya, metrics_port, central_port = free_port(), free_port(), free_port()
    first, later = avaya_records(300, seed=31), avaya_records(20, seed=32, day=2)
    central = CentralProcess(tmp_path / "central.db", pki=pki, port=central_port)
    with tmpfs(tmp_path / "data", "8m") as data:
        config = write_config(tmp_path, data, avaya_port=avaya, metrics_port=metrics_port,
                              central=f"127.0.0.1:{central_port}", pki=pki, store="ballast_mb = 0")
        try:
            with DaemonProcess(config) as daemon:
                daemon.start()
                with AvayaEmulator("127.0.0.1", avaya) as pbx:     # central down: 300 records pending
                    pbx.send(first)
                    wait_for(lambda: status(tmp_path)["records_durable"] == len(first), 20,
                             message="300 records stored")
                assert daemon.terminate() == 0
                filler = fill(data)                                # the disk fills while it is stopped

                daemon.start()                                     # READY=1 all the same
                st = status(tmp_path)
                assert st["store"]["state"] == "degraded" and st["store"]["problem"] == "disk full"
                assert "free space on the disk holding" in st["store"]["fix"]
                assert st["input_held"] == ["store"]
                assert corrupt_files(data) == []                   # the healthy file stays where it is
                assert "appliance_store_degraded 1.0" in metrics(metrics_port)
                wait_for(lambda: any("STORE DEGRADED (disk full)" in n for n in daemon.notifications), 10,
                         message="STATUS= says degraded")
                check = selftest_store(config)
                assert check.returncode == 1, check.stdout
                assert "degraded" in check.stdout and "free space" in check.stdout, check.stdout

                with AvayaEmulator("127.0.0.1", avaya) as pbx:
                    pbx.send(later)                                # arrives while input is held
                    assert pbx.wait_sent(10)
                    status_ticks(daemon, 3)
                    st = status(tmp_path)
                    assert st["devices"][0]["events"] == 0 and st["records_durable"] == 0   # not read

                    central.start()
                    filler.unlink()                                # space returns
                    wait_for(lambda: status(tmp_path)["store"]["state"] == "ok", 30,
                             message="the store usable again by itself")
                    wait_for(lambda: len(set(central_keys(central.db_path))) == len(first) + len(later), 60,
                             message="every record delivered")
                assert corrupt_files(data) == []
                assert set(central_keys(central.db_path)) == set(stored_keys(data))
                assert stored_keys(data, "outbox") == []
                assert daemon.terminate() == 0
                assert "Traceback" not in daemon.log_text()
                assert "moved it aside" not in daemon.log_text()
        finally:
            central.close()


def db_count(data) -> int:
    """Records in the store once the daemon is gone (its WAL applied, as the next start would)."""
    conn = sqlite3.connect(data / "appliance.db")
    try:
        return conn.execute("SELECT count(*) FROM cdr").fetchone()[0]
    finally:
        conn.close()


@contextmanager
def running_onto_a_full_disk(tmp_path, ballast_mb: int):
    """A daemon on a 24 MB tmpfs storing 1,000 records; then the disk fills while 20,000 more keep
    arriving. Yields (data dir, daemon, the filler): delete it and space returns."""
    avaya = free_port()
    with tmpfs(tmp_path / "data", "24m") as data:
        config = write_config(tmp_path, data, avaya_port=avaya,
                              store=f"ballast_mb = {ballast_mb}\nmax_pending = 2000\nmax_batch = 500")
        with DaemonProcess(config) as daemon:
            daemon.start()
            with AvayaEmulator("127.0.0.1", avaya, buffer_limit=50000) as pbx:
                pbx.send(avaya_records(1000, seed=41))
                wait_for(lambda: status(tmp_path)["records_durable"] >= 1000, 20, message="1000 stored")
                filler = fill(data)
                pbx.send(avaya_records(20000, seed=42, day=3))
                wait_for(lambda: status(tmp_path)["store"]["state"] == "degraded", 30, message="degraded")
                st = status(tmp_path)
                assert st["input_pauses"] >= 1 and "store" in st["input_held"]
                events = st["devices"][0]["events"]
                status_ticks(daemon, 4)
                st = status(tmp_path)
                assert st["devices"][0]["events"] == events             # nothing more is read while held ...
                assert len(pbx.sent) + pbx.pending > events + 1000      # ... though the PBX offers more
                assert st["store_queue"] <= 2000                        # memory stays bounded
                yield data, daemon, filler
        filler.unlink(missing_ok=True)


def test_b_a_disk_filling_while_running_holds_input_and_the_ballast_lets_everything_commit(tmp_path):
    with running_onto_a_full_disk(tmp_path, ballast_mb=4) as (data, daemon, filler):
        assert not (data / "appliance.ballast").exists()                # given back at the first failure
        wait_for(lambda: status(tmp_path)["store_queue"] == 0, 30,
                 message="what was accepted committed into the ballast's room")
        accepted = status(tmp_path)["calls_finished"]
        assert daemon.terminate() == 0
        filler.unlink()
        assert db_count(data) == accepted                              # everything accepted is stored
    log = daemon.log_text()
    assert "not made durable" not in log and "Traceback" not in log


def test_b_without_a_ballast_the_stop_says_exactly_how_many_records_were_not_stored_and_why(tmp_path):
    with running_onto_a_full_disk(tmp_path, ballast_mb=0) as (data, daemon, filler):
        accepted = status(tmp_path)["calls_finished"]
        assert daemon.terminate() == 0
        filler.unlink()
        stored = db_count(data)
    log = daemon.log_text()
    lost = re.search(r"store writer closed with (\d+) record\(s\) and \d+ unparseable input\(s\) not made "
                     r"durable: OperationalError: database or disk is full", log)
    assert lost, log[-2000:]
    assert int(lost.group(1)) == accepted - stored > 0


def test_a_locked_database_at_start_is_one_clear_line_and_resumes_when_released(tmp_path):
    avaya = free_port()
    data = tmp_path / "data"
    config = write_config(tmp_path, data, avaya_port=avaya, store="ballast_mb = 0")
    with DaemonProcess(config) as daemon:
        daemon.start()
        assert daemon.terminate() == 0
        locker = sqlite3.connect(data / "appliance.db", isolation_level=None)
        locker.execute("PRAGMA locking_mode = EXCLUSIVE")
        locker.execute("BEGIN EXCLUSIVE")                     # another program holds the database
        try:
            daemon.start(timeout=40)
            st = status(tmp_path)
            assert st["store"]["state"] == "degraded" and st["store"]["problem"] == "locked"
            assert "fuser -v" in st["store"]["fix"]
        finally:
            locker.rollback()
            locker.close()
        wait_for(lambda: status(tmp_path)["store"]["state"] == "ok", 30, message="resumed after the lock")
        with AvayaEmulator("127.0.0.1", avaya) as pbx:
            pbx.send(avaya_records(5, seed=51))
            wait_for(lambda: status(tmp_path)["records_durable"] == 5, 20, message="stored after the lock")
        assert daemon.terminate() == 0
    log = daemon.log_text()
    assert "Traceback" not in log
    assert len([line for line in log.splitlines() if "unusable (locked" in line]) == 1
    assert corrupt_files(data) == []
