"""What the real daemon says about its central while none is connected: status, metrics, failovers."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for
from tests.system.test_daemon_central import SITE, daemon_config

pytestmark = pytest.mark.system


def write_config(tmp_path: Path, pki, endpoints: list[str], metrics_port: int) -> Path:
    """test_daemon_central's config (an Avaya listener, fast reconnects), with metrics served."""
    path = daemon_config(tmp_path, pki, endpoints, free_port())
    path.write_text(path.read_text().replace('[metrics]\nlisten = ""',
                                             f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"'))
    return path


def status(config: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "appliance", "status", *extra, "--config", str(config)],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done


def central(config: Path) -> dict:
    return json.loads(status(config, "--json").stdout)["central"]


def active_metric(metrics_port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'^appliance_central_active\{endpoint="([^"]+)"\} (\S+)$', body, re.M)}


def test_no_central_connected_reads_none_and_zero_and_retries_are_not_failovers(tmp_path):
    pki = make_pki(tmp_path / "pki", site_id=SITE, extra_sites=())
    primary, standby = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    metrics = free_port()
    config = write_config(tmp_path, pki, [primary, standby], metrics)
    with DaemonProcess(config) as daemon:
        daemon.start()
        # Nothing listens on either endpoint: round after round of refused connections.
        st = wait_for(lambda: (c := central(config))["failed_attempts"] >= 6 and c, 20,
                      message="several failed rounds")
        assert st["active_endpoint"] is None and st["connected"] is False
        assert st["trying_endpoint"] in (primary, standby)
        assert st["failovers"] == 0
        assert "central: none (trying 127.0.0.1:" in status(config).stdout
        assert active_metric(metrics) == {primary: 0.0, standby: 0.0}

        with CentralProcess(tmp_path / "standby.db", pki=pki, port=int(standby.rsplit(":", 1)[1])) as proc:
            wait_for(lambda: central(config)["active_endpoint"] == standby, 20, message="standby connected")
            assert central(config)["failovers"] == 1
            assert active_metric(metrics) == {primary: 0.0, standby: 1.0}
            assert f"central: {standby}" in status(config).stdout
            proc.kill9()
            wait_for(lambda: central(config)["active_endpoint"] is None, 20, message="standby gone")
            assert active_metric(metrics) == {primary: 0.0, standby: 0.0}
            assert "central: none" in status(config).stdout
            wait_for(lambda: central(config)["failed_attempts"] >= st["failed_attempts"] + 6, 20,
                     message="more failed rounds")
            assert central(config)["failovers"] == 1      # retrying is not failing over
        assert daemon.terminate() == 0
    assert daemon.log_text().count("connected to central") == 1
