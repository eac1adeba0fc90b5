"""Supervision of the real daemon: sd_notify over a real NOTIFY_SOCKET, watchdog, status socket, metrics, signals."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
from firmware_bridge.smdr.emulator import AvayaEmulator
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for

pytestmark = pytest.mark.system


def write_config(tmp_path: Path, avaya_port: int, metrics_port: int | None = None, level: str = "info") -> Path:
    metrics = f"127.0.0.1:{metrics_port}" if metrics_port else ""
    path = tmp_path / "appliance.toml"
    path.write_text(f'[site]\nid = "site-ops"\ndata_dir = "{tmp_path / "data"}"\n[log]\nlevel = "{level}"\n'
                    f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = "{metrics}"\n'
                    f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{avaya_port}"\n')
    return path


def stored(tmp_path: Path) -> int:
    conn = sqlite3.connect(f"file:{tmp_path / 'data' / 'appliance.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM cdr").fetchone()[0]
    finally:
        conn.close()


def appliance(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True, timeout=30)


def test_ready_status_metrics_and_clean_stop(tmp_path):
    avaya, metrics = free_port(), free_port()
    config = write_config(tmp_path, avaya, metrics)
    records = in_output_order(generate_avaya_calls(20, start=datetime(2026, 6, 1, 9), seed=2))
    with DaemonProcess(config) as daemon:
        daemon.start()                       # returns once READY=1 arrived on the socket
        with AvayaEmulator("127.0.0.1", avaya) as pbx:
            pbx.send(records)
            wait_for(lambda: stored(tmp_path) == len(records), 15, message="records stored")
            status = appliance("status", "--json", "--config", str(config))
            assert status.returncode == 0, status.stderr
            st = json.loads(status.stdout)
            [device] = st["devices"]
            assert (device["name"], device["state"], device["connections"]) == ("ipo", "UP", 1)
            assert st["records_durable"] == len(records)
            table = appliance("status", "--config", str(config))
            assert table.returncode == 0 and "ipo" in table.stdout and "UP" in table.stdout
            body = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
            assert 'appliance_device_up{device="ipo",kind="avaya-ipo"} 1.0' in body
            assert f"appliance_records_stored_total {float(len(records))}" in body
            assert "appliance_process_resident_memory_bytes" in body
        wait_for(lambda: any(n.startswith("STATUS=") and "records stored" in n for n in daemon.notifications),
                 5, message="STATUS= line")
        assert daemon.terminate(timeout=30) == 0
        assert any("STOPPING=1" in n for n in daemon.notifications)
    gone = appliance("status", "--config", str(config))
    assert gone.returncode == 3 and "is the daemon running" in gone.stderr


def test_watchdog_pings_stop_while_the_store_is_wedged(tmp_path):
    avaya = free_port()
    records = in_output_order(generate_avaya_calls(5, start=datetime(2026, 6, 1, 9), seed=3))
    with DaemonProcess(write_config(tmp_path, avaya), env={"WATCHDOG_USEC": "2000000"}) as daemon:
        daemon.start()
        pings = lambda: sum("WATCHDOG=1" in n for n in daemon.notifications)   # noqa: E731
        wait_for(lambda: pings() >= 2, 10, message="watchdog pings")
        # Another process takes the database's write lock: the store writer blocks inside SQLite.
        blocker = sqlite3.connect(tmp_path / "data" / "appliance.db", timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with AvayaEmulator("127.0.0.1", avaya) as pbx:
                pbx.send(records)
                assert pbx.wait_sent(10)
                wait_for(lambda: "store-writer has made no progress" in daemon.log_text(), 15,
                         message="watchdog reports the wedged store writer")
                before = pings()
                # While wedged no ping may arrive: watch for two and a half ping periods.
                assert not _arrives(daemon, lambda: pings() > before, 2.5)
        finally:
            blocker.rollback()
            blocker.close()
        wait_for(lambda: stored(tmp_path) == len(records), 20, message="records stored after the lock is gone")
        after = pings()
        wait_for(lambda: pings() > after, 10, message="pings resume")
        assert daemon.terminate() == 0


def _arrives(daemon, condition, within: float) -> bool:
    try:
        wait_for(condition, within)
        return True
    except AssertionError:
        return False


def test_sighup_applies_log_level_and_reports_what_needs_a_restart(tmp_path):
    avaya = free_port()
    config = write_config(tmp_path, avaya, level="info")
    with DaemonProcess(config) as daemon:
        daemon.start()
        config.write_text(config.read_text().replace('level = "info"', 'level = "warning"')
                          .replace('name = "ipo"', 'name = "ipo2"'))
        daemon.proc.send_signal(1)   # SIGHUP
        wait_for(lambda: "take effect after a restart" in daemon.log_text(), 10, message="reload logged")
        assert "[pbx]" in daemon.log_text()
        assert any("RELOADING=1" in n for n in daemon.notifications)
        config.write_text("this is not toml [")
        daemon.proc.send_signal(1)
        wait_for(lambda: "reload refused" in daemon.log_text(), 10, message="bad config refused")
        assert daemon.proc.poll() is None          # still running on the old config
        assert daemon.terminate() == 0


def test_a_taken_listen_port_is_reported_and_retried_while_the_daemon_runs(tmp_path):
    import socket
    avaya = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", avaya))
    holder.listen()
    config = write_config(tmp_path, avaya)
    config.write_text(config.read_text() + "reconnect_delay = 0.2\nreconnect_delay_max = 0.5\n")
    with DaemonProcess(config) as daemon:
        daemon.start()                           # READY although the PBX port is taken
        wait_for(lambda: "ipo: cannot listen on" in daemon.log_text(), 10, message="the clash is logged")
        holder.close()
        wait_for(lambda: "ipo: listening on" in daemon.log_text(), 10, message="bound once the port is free")
        records = in_output_order(generate_avaya_calls(3, start=datetime(2026, 6, 1, 9), seed=4))
        with AvayaEmulator("127.0.0.1", avaya) as pbx:
            pbx.send(records)
            wait_for(lambda: stored(tmp_path) == len(records), 15, message="records stored")
        assert daemon.terminate() == 0


def test_an_unusable_data_dir_is_one_clear_line_and_exit_1(tmp_path):
    (tmp_path / "data").write_text("a file where the data directory should be")
    config = write_config(tmp_path, free_port())
    result = subprocess.run([sys.executable, "-m", "appliance", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("appliance: cannot start:") and "Traceback" not in result.stderr
