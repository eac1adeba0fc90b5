"""Daemon.dial (an agent's outbound call) through a real pty to the emulated module, recorded as a CDR."""
from __future__ import annotations

import asyncio
import sqlite3

from appliance.config import parse_config
from appliance.daemon import Daemon
from firmware_bridge.at.emulator import GsmModemEmulator
from firmware_bridge.pty import EmulatedPort


def test_dial_out_on_a_line_and_the_busy_call_is_recorded(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyGSM"))
    modem = GsmModemEmulator(port, model="EC25", time_scale=0.02)
    config = parse_config(
        f'[site]\nid = "s"\ndata_dir = "{tmp_path / "data"}"\n[control]\nsocket = "{tmp_path / "c.sock"}"\n'
        f'[metrics]\nlisten = ""\n[[line]]\nname = "gsm1"\nport = "{port.path}"\nqueue = "sales"\n')
    daemon = Daemon(config)

    async def scenario() -> None:
        task = asyncio.create_task(daemon.run())
        await daemon.wait_ready()
        assert not daemon.dial("nosuchline", "5550100")
        for _ in range(200):                       # bounded wait for the module's init sequence
            if daemon.dial("gsm1", "5550100"):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("line never became ready")
        for _ in range(500):
            if daemon.records_durable >= 1:
                break
            await asyncio.sleep(0.02)
        daemon.stop()
        await task

    modem.busy()                                   # the next number dialled is busy
    try:
        asyncio.run(scenario())
    finally:
        modem.stop()
        port.close()
    conn = sqlite3.connect(tmp_path / "data" / "appliance.db")
    try:
        rows = conn.execute("SELECT direction, disposition, callee, queue FROM cdr").fetchall()
    finally:
        conn.close()
    assert rows == [("outbound", "busy", "5550100", "sales")]
