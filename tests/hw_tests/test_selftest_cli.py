"""`appliance selftest` as a technician and ops tooling run it: a subprocess, exit codes, table, JSON, store, central."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from appliance.store import Store
from firmware_bridge.at.emulator import GsmModemEmulator
from firmware_bridge.pty import EmulatedPort
from hw_tests.checks_clock import ClockState
from hw_tests.checks_storage import DiskThresholds
from hw_tests.cli import selftest_main
from hw_tests.plan import Environment
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.waiting import free_port


def selftest(config: Path, *args: str) -> subprocess.CompletedProcess:
    """The command as installed would run it (`appliance selftest` = hw_tests.cli.selftest_main)."""
    return subprocess.run([sys.executable, "-m", "hw_tests", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def write_config(tmp_path: Path, body: str = "", *, store: bool = True) -> Path:
    """A config; with `store`, the database the daemon makes on its first start exists too."""
    path = tmp_path / "appliance.toml"
    path.write_text(f'[site]\nid = "site-a"\ndata_dir = "{tmp_path / "data"}"\n{body}')
    if store:
        Store(tmp_path / "data", site_id="site-a").close()
    return path


@pytest.fixture
def modem(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyGSM"))
    emulator = GsmModemEmulator(port, sim="missing")
    yield port
    emulator.stop()
    port.close()


def test_config_error_exits_2_with_the_message_and_runs_nothing(tmp_path):
    config = write_config(tmp_path, '[[line]]\nname = "gsm1"\nport = "/dev/ttyUSB2"\nkind = "fax"\n', store=False)
    proc = selftest(config)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"config error: {config}: line[0].kind: expected one of 'gsm', 'voice-modem'")
    assert proc.stdout == "" and not (tmp_path / "data").exists()


def test_missing_config_file_exits_2(tmp_path):
    proc = selftest(tmp_path / "nope.toml")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_healthy_box_exits_0_and_json_lists_every_applicable_check(tmp_path):
    proc = selftest(write_config(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["name"] for r in out["results"]] == ["config", "clock", "system", "data_dir", "store"]
    assert out["verdict"] in ("pass", "warn") and out["site_id"] == "site-a"
    assert all(r["status"] != "fail" for r in out["results"])
    assert out["report"] == {"sent": False, "endpoint": "", "message": "not reported (no central configured)"}


def test_a_failing_device_exits_1_shows_the_hint_and_the_run_is_saved_in_the_store(tmp_path, modem):
    config = write_config(tmp_path, f'[[line]]\nname = "gsm1"\nport = "{modem.path}"\n'
                                    f'[[pbx]]\nname = "pbx1"\nformat = "panasonic"\nport = "{tmp_path / "ttyUSB9"}"\n')
    proc = selftest(config, "--only", "device")
    assert proc.returncode == 1, proc.stderr
    table = proc.stdout
    assert "device:gsm1" in table and "SIM missing" in table and "insert the SIM / check the SIM tray" in table
    assert "device:pbx1" in table and f"{tmp_path / 'ttyUSB9'} not present" in table
    assert "FAIL: 2 failed in" in table
    with Store(tmp_path / "data", site_id="site-a", check=False) as store:
        saved = store.selftests()
    assert len(saved) == 1 and saved[0]["verdict"] == "fail"
    assert saved[0]["run_id"] in table
    stored = json.loads(saved[0]["report_json"])
    assert {r["name"]: r["status"] for r in stored["results"]} == {"device:gsm1": "fail", "device:pbx1": "fail"}


@pytest.fixture
def reachable_dir():
    """A directory another user can reach (pytest's tmp is root's 0700), as /var/lib is."""
    base = Path(tempfile.mkdtemp(prefix="owned-"))
    os.chmod(base, 0o711)
    yield base
    shutil.rmtree(base)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can create files for another user")
def test_run_as_root_leaves_the_database_to_the_daemons_user(reachable_dir):
    data = reachable_dir / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 4321, 4321)                      # the appliance user's uid on this imagined box
    config = write_config(reachable_dir, store=False)
    proc = selftest(config, "--only", "config", "store")
    assert proc.returncode == 1                     # no database: the store check fails ...
    assert f"no database at {data / 'appliance.db'}" in proc.stdout
    assert "result not saved: no database" in proc.stdout
    assert list(data.iterdir()) == []               # ... and the self-test created none
    Store(data, site_id="site-a").close()           # the daemon's first start
    for path in [data, *data.iterdir()]:
        os.chown(path, 4321, 4321)
    proc = selftest(config, "--only", "config", "store")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(p.name for p in data.iterdir())
    assert "appliance.db" in files
    assert {(data / name).stat().st_uid for name in files} == {4321}
    with Store(data, site_id="site-a", read_only=True) as store:
        assert len(store.selftests()) == 1          # the run was saved


def test_injected_readings_reach_the_checks_full_disk_fails_unsynced_clock_warns(tmp_path, capsys):
    env = Environment(clock=lambda: ClockState(False, "kernel NTP state", 16000.0),
                      disk=DiskThresholds(fail_free_bytes=1 << 62))
    code = selftest_main(["--config", str(write_config(tmp_path)), "--json", "--only", "clock", "data_dir"], env)
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["verdict"] == "fail"
    assert {r["name"]: r["status"] for r in out["results"]} == {"clock": "warn", "data_dir": "fail"}


def test_only_filters_and_an_unknown_name_exits_2(tmp_path):
    config = write_config(tmp_path)
    out = json.loads(selftest(config, "--json", "--only", "clock", "config").stdout)
    assert [r["name"] for r in out["results"]] == ["config", "clock"]
    proc = selftest(config, "--only", "device:gsm9")
    assert proc.returncode == 2 and "no check named 'device:gsm9'" in proc.stderr
    assert "choose from: config, clock, system, data_dir, store" in proc.stderr


def test_loopback_without_a_plug_fails_through_the_cli(tmp_path):
    spare = EmulatedPort(str(tmp_path / "ttySPARE"))
    try:
        proc = selftest(write_config(tmp_path), "--json", "--only", "loopback", "--loopback", spare.path)
    finally:
        spare.close()
    assert proc.returncode == 1
    (result,) = json.loads(proc.stdout)["results"]
    assert result["name"] == "loopback" and result["status"] == "fail"
    assert "fit the loopback plug (pins 2-3 on DB9)" in result["hint"]


def test_report_reaches_the_real_central_unless_no_report(tmp_path):
    pki = make_pki(tmp_path / "pki", "site-a")
    with CentralProcess(tmp_path / "central.db", pki=pki) as central:
        config = write_config(tmp_path, pki.central_toml("site-a", central.address))
        sent = selftest(config, "--json")
        quiet = selftest(config, "--json", "--no-report")
        dump = subprocess.run([sys.executable, "-m", "appliance.central.cli", "dump", "--db",
                               str(central.db_path), "--selftests"], capture_output=True, text=True,
                              timeout=30, check=True).stdout
    out = json.loads(sent.stdout)
    assert sent.returncode == 0, sent.stderr
    assert out["report"]["sent"] and out["report"]["endpoint"] == central.address
    central_result = next(r for r in out["results"] if r["name"] == f"central:{central.address}")
    assert central_result["status"] == "pass"
    reports = [json.loads(line) for line in dump.splitlines()]
    assert [r["runId"] for r in reports] == [out["run_id"]]       # the --no-report run is not there
    assert reports[0]["siteId"] == "site-a"
    assert [c["name"] for c in reports[0]["checks"]] == [r["name"] for r in out["results"]]
    assert json.loads(quiet.stdout)["report"]["message"] == "not reported (--no-report)"


def test_central_down_is_a_failed_check_and_a_warn_line_not_a_crash(tmp_path):
    pki = make_pki(tmp_path / "pki", "site-a")
    endpoint = f"127.0.0.1:{free_port()}"
    config = write_config(tmp_path, pki.central_toml("site-a", endpoint))
    proc = selftest(config)
    assert proc.returncode == 1
    assert f"connection refused by {endpoint}" in proc.stdout
    assert "WARN: report not sent: " in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
