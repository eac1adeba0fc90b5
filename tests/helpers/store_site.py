"""A site for the store's system tests: its config, the daemon's status over the control socket,
what the store and the central hold."""
from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

from appliance.ops.control import DaemonNotRunning, request
from tests.helpers.central_proc import records_at

SITE = "site-store"


def write_config(tmp_path: Path, data_dir: Path, *, avaya_port: int, metrics_port: int | None = None,
                 central: str | None = None, pki=None, store: str = "") -> Path:
    metrics = f"127.0.0.1:{metrics_port}" if metrics_port else ""
    text = (f'[site]\nid = "{SITE}"\ndata_dir = "{data_dir}"\n'
            f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = "{metrics}"\n'
            f'[store]\n{store}\n'
            f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{avaya_port}"\n')
    if central:
        text += pki.central_toml(SITE, central, reconnect_delay=0.1, reconnect_delay_max=1.0)
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path


def status(tmp_path: Path) -> dict | None:
    try:
        return request(str(tmp_path / "control.sock"), timeout=10)
    except DaemonNotRunning:
        return None


def metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def appliance(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          timeout=timeout)


def stored_keys(data_dir: Path, table: str = "cdr") -> list[str]:
    """Keys in the store (cdr) or waiting to be sent (outbox), read without creating any file."""
    from appliance.store import Store
    with Store(data_dir, site_id=SITE, read_only=True) as store:
        return [row["key"] for row in store.export(table)]


def central_keys(db: Path) -> list[str]:
    return [r.key for r in records_at(db, SITE)]
