"""The real daemon as a subprocess: PBX records over real TCP and a real pty become durable CDRs."""
from __future__ import annotations

import os
import random
import stat
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from firmware_bridge.pty import EmulatedPort
from firmware_bridge.smdr.traffic import generate_avaya_calls, generate_panasonic_calls, in_output_order
from firmware_bridge.smdr.emulator import AvayaEmulator, PanasonicEmulator
from firmware_bridge.smdr.avaya import encode_record as encode_avaya
from firmware_bridge.smdr.panasonic import PanasonicOptions
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for
from tests.helpers.site_db import site_rows

pytestmark = pytest.mark.system


def write_config(tmp_path: Path, *, avaya_port: int | None = None, panasonic: str | None = None) -> Path:
    text = (f'[site]\nid = "site-test"\ndata_dir = "{tmp_path / "data"}"\ntimezone = "Europe/London"\n'
            f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n')
    if avaya_port:
        text += f'[[pbx]]\nname = "ipo"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:{avaya_port}"\nqueue = "sales"\n'
    if panasonic:
        text += (f'[[pbx]]\nname = "kxtda"\nformat = "panasonic"\nport = "{panasonic}"\n'
                 f'date_order = "DMY"\nreconnect_delay = 0.05\nreconnect_delay_max = 0.2\n')
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path


def db_rows(tmp_path: Path, sql: str, args=()) -> list:
    return site_rows(tmp_path / "data", sql, args)

def cdr_count(tmp_path: Path, source: str) -> int:
    rows = db_rows(tmp_path, "SELECT count(*) FROM cdr WHERE source = ?", (source,))
    return rows[0][0] if rows else 0


def test_avaya_feed_becomes_durable_cdrs_with_legs_and_rejects(tmp_path):
    port = free_port()
    calls = generate_avaya_calls(150, start=datetime(2026, 3, 28, 22, 0), seed=7)   # crosses the DST change
    records = in_output_order(calls)
    with DaemonProcess(write_config(tmp_path, avaya_port=port)) as daemon:
        daemon.start()
        with AvayaEmulator("127.0.0.1", port, leading_nuls=3, max_chunk=700) as pbx:
            pbx.send(records[:60])
            pbx.send_raw(b"\x15\xfe garbage from a noisy line\r\n")
            pbx.send_truncated(records[60], keep=40)
            pbx.send(records[60:])
            assert pbx.wait_sent(20)
            wait_for(lambda: cdr_count(tmp_path, "ipo") == len(records), 20, message="all records stored")
        assert daemon.terminate() == 0
        assert "unparseable input kept in rejected_raw" in daemon.log_text()

    rows = db_rows(tmp_path, "SELECT raw, pbx_call_id, leg, final_leg, direction, disposition, started_at, "
                             "queue, key FROM cdr WHERE source='ipo'")
    assert sorted(r[0] for r in rows) == sorted(encode_avaya(r)[:-2].decode("latin-1") for r in records)
    # Transferred calls: one row per leg, legs numbered in order, only the last one final.
    by_call = {}
    for raw, call_id, leg, final, *_ in rows:
        by_call.setdefault(call_id, []).append((leg, final))
    for call in calls:
        legs = sorted(by_call[call[0].call_id])
        assert [leg for leg, _ in legs] == list(range(1, len(call) + 1))
        assert [bool(final) for _, final in legs] == [False] * (len(call) - 1) + [True]
    assert {r[5] for r in rows} >= {"answered", "abandoned"}
    assert all(r[6].endswith("Z") for r in rows) and all(r[7] == "sales" for r in rows)
    rejected = db_rows(tmp_path, "SELECT source, reason, raw FROM rejected_raw")
    assert any(b"garbage from a noisy line" in bytes(r[2]) for r in rejected)
    assert len(rejected) == 2            # the garbage line and the truncated record, nothing else

    data = tmp_path / "data"
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data / "appliance.db").st_mode) == 0o600


def test_kill9_mid_burst_stores_every_record_exactly_once(tmp_path):
    """kill -9 at random moments during a burst; the PBX re-sends what it cannot know arrived."""
    port = free_port()
    records = in_output_order(generate_avaya_calls(3000, start=datetime(2026, 5, 1, 8, 0), seed=11))
    rng = random.Random(5)
    with DaemonProcess(write_config(tmp_path, avaya_port=port)) as daemon:
        daemon.start()
        # Like IP Office, the emulator cannot know what the dead daemon had read: it re-sends the
        # tail it wrote before the drop. The appliance de-duplicates on the record's content.
        with AvayaEmulator("127.0.0.1", port, resend_on_reconnect=len(records), buffer_limit=len(records),
                           reconnect_delay=0.02, reconnect_delay_max=0.1, max_chunk=4096) as pbx:
            pbx.send(records)
            for kill in range(3):
                target = rng.randrange(200, 2500)
                wait_for(lambda: cdr_count(tmp_path, "ipo") >= target or pbx.pending == 0, 30,
                         message=f"progress before kill {kill}")
                daemon.kill()
                daemon.start()
            assert pbx.wait_sent(30)
            try:
                wait_for(lambda: cdr_count(tmp_path, "ipo") >= len(records), 30, message="all records stored")
            except AssertionError:
                raise AssertionError(f"stored {cdr_count(tmp_path, 'ipo')} of {len(records)}, "
                                     f"{pbx.connections} connections; daemon log:\n{daemon.log_text()}")
        assert daemon.terminate() == 0

    raws = [r[0] for r in db_rows(tmp_path, "SELECT raw FROM cdr WHERE source='ipo'")]
    expected = Counter(encode_avaya(r)[:-2].decode("latin-1") for r in records)
    assert Counter(raws) == expected            # every record, none twice
    outbox = db_rows(tmp_path, "SELECT count(*) FROM outbox")[0][0]
    assert outbox == len(records)               # each stored record queued for the central exactly once


def test_panasonic_serial_feed_survives_unplug(tmp_path):
    options = PanasonicOptions(date_order="DMY")
    calls = generate_panasonic_calls(40, start=datetime(2026, 11, 2, 9, 0), seed=3, options=options)
    lines = [rec for call in calls for rec in call]
    port = EmulatedPort(str(tmp_path / "ttyPBX"))
    try:
        with DaemonProcess(write_config(tmp_path, panasonic=port.path)) as daemon:
            daemon.start()
            pbx = PanasonicEmulator(port, options, page_length=15)
            pbx.write_records(lines[:20])
            pbx.write_stars()
            wait_for(lambda: cdr_count(tmp_path, "kxtda") == 20, 15, message="first half stored")
            port.unplug()
            wait_for(lambda: "kxtda: DOWN" in daemon.log_text(), 10, message="device shown DOWN")
            port.replug()
            wait_for(lambda: daemon.log_text().count("kxtda: UP") >= 2, 10, message="device reopened")
            pbx.write_records(lines[20:])
            wait_for(lambda: cdr_count(tmp_path, "kxtda") == len(lines), 15, message="second half stored")
            assert daemon.terminate() == 0
    finally:
        port.close()
    rows = db_rows(tmp_path, "SELECT direction, agent, ended_at FROM cdr WHERE source='kxtda'")
    assert {r[0] for r in rows} <= {"inbound", "outbound", "internal"} and len({r[0] for r in rows}) >= 2
    assert all(r[2].startswith("2026-11-") for r in rows)
    assert not db_rows(tmp_path, "SELECT * FROM rejected_raw")   # headers and '*' lines are not errors
