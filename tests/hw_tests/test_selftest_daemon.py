"""With the real daemon running, its exclusively held devices are reported as in use by it, not as faults,
and the run is saved by the daemon (its store writer: the data dir is the daemon's while it runs)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.store import Store
from firmware_bridge.at.emulator import GsmModemEmulator
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.smdr.emulator import PanasonicEmulator
from hw_tests.ports import holders
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for

pytestmark = pytest.mark.system


def selftest_json(config: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "hw_tests", "--config", str(config), "--json",
                           "--no-report", *args], capture_output=True, text=True, timeout=60)
    return proc.returncode, json.loads(proc.stdout)


def test_devices_held_by_the_running_daemon_pass_as_in_use(tmp_path):
    gsm_port = EmulatedPort(str(tmp_path / "ttyGSM"))
    modem = GsmModemEmulator(gsm_port)
    pbx_port = EmulatedPort(str(tmp_path / "ttyPBX"))
    PanasonicEmulator(pbx_port).write_blank()
    avaya_port = free_port()
    config = tmp_path / "appliance.toml"
    config.write_text(
        f'[site]\nid = "site-a"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[line]]\nname = "gsm1"\nport = "{gsm_port.path}"\nkind = "gsm"\n'
        f'[[pbx]]\nname = "pbx1"\nformat = "panasonic"\nport = "{pbx_port.path}"\n'
        f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{avaya_port}"\n')
    try:
        with DaemonProcess(config) as daemon:
            daemon.start()
            wait_for(lambda: "AT+CLIP=1" in modem.commands, 10, message="daemon initialised the module")
            for path in (gsm_port.path, pbx_port.path):
                wait_for(lambda: any(h.is_daemon for h in holders(path)), 10, message=f"daemon holds {path}")
            code, report = selftest_json(config, "--only", "device")
            pid = daemon.proc.pid
            with Store(tmp_path / "data", site_id="site-a", read_only=True) as store:
                saved = store.selftests()
    finally:
        modem.stop()
        gsm_port.close()
        pbx_port.close()
    results = {r["name"]: r for r in report["results"]}
    assert set(results) == {"device:gsm1", "device:pbx1", "device:ipo"}
    assert results["device:gsm1"]["status"] == "pass"
    assert results["device:gsm1"]["detail"] == f"{gsm_port.path} in use by the running daemon (pid {pid})"
    assert results["device:pbx1"]["status"] == "warn"          # in use, but no record yet
    assert results["device:pbx1"]["detail"].startswith(f"{pbx_port.path} in use by the running daemon (pid {pid})")
    assert "no record stored from it yet" in results["device:pbx1"]["detail"]
    assert f"listening on 127.0.0.1:{avaya_port} (the daemon, pid {pid})" in results["device:ipo"]["detail"]
    assert code == 0
    assert report["saved"] is True
    assert [(r["run_id"], r["verdict"]) for r in saved] == [(report["run_id"], report["verdict"])]
