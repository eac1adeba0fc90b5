"""The real daemon: recordings reach a real central after their records, local copies go, old records go."""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from appliance.store import Store
from appliance.store.retention import DAY_S
from tests.appliance.uploads.upload_site import central_copy, recipient, recorded_call, sha256
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.store_site import status
from tests.helpers.sync_harness import SITE, call_record
from tests.helpers.waiting import free_port, wait_for

pytestmark = pytest.mark.system


def config(tmp_path: Path, pki, endpoint: str, metrics_port: int) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(
        f'[site]\nid = "{SITE}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        f'[store]\ncdr_retention_days = 30\n[recording]\nkeep_after_upload_s = 0\n'
        f'upload_rate_kib_s = 2048\nupload_chunk_kib = 64\n'
        + pki.central_toml(SITE, endpoint, reconnect_delay=0.1, reconnect_delay_max=1.0))
    return path


def test_daemon_uploads_recordings_after_their_records_and_applies_retention(tmp_path):
    pki = make_pki(tmp_path / "pki", SITE, extra_sites=())
    data = tmp_path / "data"
    age = [40 * DAY_S]                  # records stored now count as stored this long ago
    with Store(data, site_id=SITE, now=lambda: time.time() - age[0]) as store:
        store.mark_delivered(store.add([call_record(i) for i in range(3)]).inserted)
        age[0] = 0.0
        age_recipient = recipient()
        calls = [recorded_call(10 + i, data / "recordings", age_recipient, seconds=2.5, segment_s=1.0)
                 for i in range(2)]
        store.add(calls)
    (tmp_path / "central").mkdir()
    with CentralProcess(tmp_path / "central" / "central.db", pki=pki) as central, \
            DaemonProcess(config(tmp_path, pki, central.address, metrics_port := free_port())) as daemon:
        daemon.start()
        wait_for(lambda: (status(tmp_path) or {}).get("uploads", {}).get("uploaded") == 6, 30,
                 message="six segments uploaded by the daemon")
        wait_for(lambda: status(tmp_path)["retention"]["passes"] >= 1, 10, message="retention at start")
        st = status(tmp_path)
        assert st["tasks"]["uploads"] == "running"
        assert (st["uploads"]["rate_limit_bytes_per_s"], st["uploads"]["chunk_bytes"]) == (2048 * 1024, 64 * 1024)
        assert st["uploads"]["connected"] and st["uploads"]["active_endpoint"] == central.address
        assert st["retention"]["last_deleted"] == 3
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert "appliance_recordings_backlog_segments 0.0" in scraped
        assert "appliance_recordings_rejected 0.0" in scraped
        shown = subprocess.run([sys.executable, "-m", "appliance", "status", "--config", str(tmp_path / "appliance.toml")],
                               capture_output=True, text=True, timeout=30)
        assert "recordings: 0 segment(s) to upload" in shown.stdout and "6 uploaded" in shown.stdout, shown.stdout
        assert daemon.terminate() == 0
    with Store(data, site_id=SITE, read_only=True) as store:
        assert sorted(r["key"] for r in store.export("cdr")) == sorted(c.key for c in calls)
    for call in calls:
        for seg in call.recording.segments:
            assert sha256(central_copy(central, call.key, seg.name)) == seg.sha256
    assert not list((data / "recordings").iterdir())
