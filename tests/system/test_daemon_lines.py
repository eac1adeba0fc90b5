"""The real daemon with emulated GSM modules and a voice modem on real ptys: every call outcome is recorded."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.at import GsmModemEmulator, VoiceModemEmulator
from firmware_bridge.pty import EmulatedPort
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import wait_for
from tests.helpers.site_db import cdr_rows

pytestmark = pytest.mark.system


def config(tmp_path: Path, lines: dict[str, tuple[str, str]]) -> Path:
    text = (f'[site]\nid = "site-lines"\ndata_dir = "{tmp_path / "data"}"\n'
            f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n')
    for name, (kind, port) in lines.items():
        text += (f'[[line]]\nname = "{name}"\nport = "{port}"\nkind = "{kind}"\nqueue = "support"\n'
                 f'ring_timeout = 1.0\nreconnect_delay = 0.05\nreconnect_delay_max = 0.2\n')
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path


def cdrs(tmp_path: Path, source: str) -> list[dict]:
    return cdr_rows(tmp_path / "data", source)

def test_gsm_line_records_answered_abandoned_and_withheld_calls(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyGSM"))
    modem = GsmModemEmulator(port, ring_period=1.0, time_scale=0.02)
    try:
        with DaemonProcess(config(tmp_path, {"gsm1": ("gsm", port.path)})) as daemon:
            daemon.start()
            wait_for(lambda: "AT+CLIP=1" in " ".join(modem.commands), 10, message="module initialised")
            modem.incoming_call("+15551234567", rings=3, answer_after_rings=2, talk_s=42)
            for style in ("no_carrier", "missed_call", "clcc", "rings_stop"):
                modem.incoming_call("+15557654321", rings=2, abandon_style=style)
            modem.incoming_call("", rings=3, answer_after_rings=1, talk_s=5, withheld=True)
            assert modem.wait_idle(20)
            wait_for(lambda: len(cdrs(tmp_path, "gsm1")) == 6, 15, message="six calls recorded")
            assert daemon.terminate() == 0
            log = daemon.log_text()
    finally:
        modem.stop()
        port.close()
    rows = cdrs(tmp_path, "gsm1")
    answered, *abandoned, withheld = rows
    assert answered["disposition"] == "answered" and answered["caller"] == "+15551234567"
    assert answered["talk_s"] == 42 and answered["direction"] == "inbound" and answered["queue"] == "support"
    assert [r["disposition"] for r in abandoned] == ["abandoned"] * 4
    assert all(r["caller"] == "+15557654321" and r["talk_s"] == 0 for r in abandoned)
    assert withheld["caller"] == "" and withheld["caller_name"] == "withheld"
    assert "+15551234567" not in log and "5551234567" not in log     # numbers masked in logs


def test_unplugged_module_is_reinitialised_when_it_returns(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyGSM"))
    modem = GsmModemEmulator(port, ring_period=1.0, time_scale=0.02)
    try:
        with DaemonProcess(config(tmp_path, {"gsm1": ("gsm", port.path)})) as daemon:
            daemon.start()
            wait_for(lambda: modem.commands.count("AT+CLIP=1") == 1, 10, message="first init")
            modem.unplug()
            wait_for(lambda: "gsm1: DOWN" in daemon.log_text(), 10, message="line shown DOWN")
            modem.replug()
            wait_for(lambda: modem.commands.count("AT+CLIP=1") >= 2, 10, message="re-initialised after replug")
            modem.incoming_call("+441632960123", rings=2, answer_after_rings=1, talk_s=3)
            assert modem.wait_idle(20)
            wait_for(lambda: len(cdrs(tmp_path, "gsm1")) == 1, 10, message="call after replug recorded")
            assert daemon.terminate() == 0
    finally:
        modem.stop()
        port.close()
    assert cdrs(tmp_path, "gsm1")[0]["disposition"] == "answered"


def test_voice_modem_caller_id(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyVM"))
    modem = VoiceModemEmulator(port, ring_period=1.0, time_scale=0.02)
    try:
        with DaemonProcess(config(tmp_path, {"pots1": ("voice-modem", port.path)})) as daemon:
            daemon.start()
            wait_for(lambda: any("VCID" in c or "CID" in c for c in modem.commands), 10, message="caller ID on")
            modem.incoming_call("5551234", name="JOHN DOE", rings=3)
            assert modem.wait_idle(20)
            wait_for(lambda: len(cdrs(tmp_path, "pots1")) == 1, 10, message="call recorded")
            assert daemon.terminate() == 0
    finally:
        modem.stop()
        port.close()
    row = cdrs(tmp_path, "pots1")[0]
    assert row["caller"] == "5551234" and row["caller_name"] == "JOHN DOE"
    assert row["disposition"] == "abandoned" and row["source_kind"] == "voice-modem"
