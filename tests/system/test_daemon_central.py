"""The real daemon delivering to real centrals over mTLS: failover, failback, kill -9, exactly once."""
from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from firmware_bridge.smdr.avaya import encode_record
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
from firmware_bridge.smdr.emulator import AvayaEmulator
from tests.helpers.central_proc import CentralProcess, make_pki, records_at
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for

pytestmark = pytest.mark.system
SITE = "site-sys"


def daemon_config(tmp_path: Path, pki, endpoints: list[str], avaya_port: int) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(
        f'[site]\nid = "{SITE}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n'
        f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{avaya_port}"\n'
        + pki.central_toml(SITE, endpoints, failback_after=2.0, reconnect_delay=0.1, reconnect_delay_max=1.0))
    return path


def central_raws(central: CentralProcess) -> list[str]:
    """Every record the central stored, as the raw SMDR line it came from."""
    return [r.raw for r in records_at(central.db_path, SITE)]


def outbox_size(tmp_path: Path) -> int:
    conn = sqlite3.connect(f"file:{tmp_path / 'data' / 'appliance.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    finally:
        conn.close()


def active_endpoint(config: Path) -> str | None:
    out = subprocess.run([sys.executable, "-m", "appliance", "status", "--json", "--config", str(config)],
                         capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout).get("central", {}).get("active_endpoint")


def lines(records) -> list[str]:
    return [encode_record(r)[:-2].decode("latin-1") for r in records]


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki", site_id=SITE, extra_sites=())


def test_failover_to_standby_and_failback_to_primary(tmp_path, pki):
    records = in_output_order(generate_avaya_calls(900, start=datetime(2026, 4, 1, 8), seed=21))
    thirds = [records[:300], records[300:600], records[600:]]
    avaya = free_port()
    with CentralProcess(tmp_path / "primary.db", pki=pki) as primary, \
            CentralProcess(tmp_path / "standby.db", pki=pki) as standby:
        config = daemon_config(tmp_path, pki, [primary.address, standby.address], avaya)
        with DaemonProcess(config) as daemon, AvayaEmulator("127.0.0.1", avaya, buffer_limit=10_000) as pbx:
            daemon.start()
            pbx.send(thirds[0])
            wait_for(lambda: len(central_raws(primary)) == 300, 30, message="first third at the primary")

            primary.kill9()
            pbx.send(thirds[1])
            wait_for(lambda: set(lines(thirds[1])) <= set(central_raws(standby)), 30,
                     message="second third at the standby")
            assert active_endpoint(config) == standby.address

            primary.start()                     # same port, same database
            wait_for(lambda: active_endpoint(config) == primary.address, 30, message="failback to the primary")
            pbx.send(thirds[2])
            wait_for(lambda: set(lines(thirds[2])) <= set(central_raws(primary)), 30,
                     message="last third at the primary")
            wait_for(lambda: outbox_size(tmp_path) == 0, 15, message="outbox drained")
            assert daemon.terminate() == 0

        at_primary, at_standby = Counter(central_raws(primary)), Counter(central_raws(standby))
    assert max(at_primary.values()) == 1 and max(at_standby.values()) == 1    # once per central
    assert set(at_primary) | set(at_standby) == set(lines(records))            # nothing missing
    assert set(lines(thirds[2])) <= set(at_primary)


def test_kill9_of_the_daemon_during_a_stream_loses_and_duplicates_nothing(tmp_path, pki):
    records = in_output_order(generate_avaya_calls(2500, start=datetime(2026, 4, 2, 8), seed=22))
    avaya = free_port()
    rng = random.Random(9)
    with CentralProcess(tmp_path / "central.db", pki=pki) as central:
        config = daemon_config(tmp_path, pki, [central.address], avaya)
        with DaemonProcess(config) as daemon, \
                AvayaEmulator("127.0.0.1", avaya, buffer_limit=10_000, resend_on_reconnect=len(records),
                              reconnect_delay=0.02, reconnect_delay_max=0.1, max_chunk=1500,
                              chunk_delay=0.004) as pbx:
            daemon.start()
            pbx.send(records)                   # paced input: the kills land mid-stream
            # Kill when the central has reached each of 10 random points of the stream.
            for kill, target in enumerate(sorted(rng.sample(range(50, len(records) - 50), 10))):
                wait_for(lambda: len(central_raws(central)) >= target, 30, message=f"kill {kill} at {target}")
                daemon.kill()
                daemon.start()
            assert pbx.wait_sent(30)
            wait_for(lambda: len(central_raws(central)) >= len(records), 60, message="everything at the central")
            wait_for(lambda: outbox_size(tmp_path) == 0, 15, message="outbox drained")
            assert daemon.terminate() == 0
        stored = Counter(central_raws(central))
    assert stored == Counter(lines(records))     # every record, each exactly once
