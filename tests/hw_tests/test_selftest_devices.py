"""device:<name> and loopback checks against the shipped emulators on real ptys, faults included."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import threading

import pytest

from firmware_bridge.at.settings import LineSettings
from firmware_bridge.smdr.settings import PbxSettings
from appliance.calls.record import CallRecord
from appliance.store import Store
from firmware_bridge.at import GsmModemEmulator, VoiceModemEmulator
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.serialport import open_serial
from firmware_bridge.smdr.receiver import AvayaReceiver
from firmware_bridge.smdr.emulator import PanasonicEmulator
from hw_tests.checks_lines import check_line
from hw_tests.checks_loopback import check_loopback
from hw_tests.checks_pbx import check_avaya, check_panasonic
from hw_tests.ports import is_daemon_cmdline, release
from hw_tests.result import Status
from tests.helpers.waiting import free_port

T0 = 1_800_000_000.0
DAY = 86400.0


@pytest.fixture
def devices(tmp_path):
    """make(kind, **options) -> EmulatedPort with an emulator behind it; all stopped afterwards."""
    made = []

    def make(kind: str = "gsm", **options) -> EmulatedPort:
        port = EmulatedPort(str(tmp_path / f"tty{kind}{len(made)}"))
        emulator = {"gsm": GsmModemEmulator, "voice": VoiceModemEmulator}[kind](port, **options)
        made.append((port, emulator))
        return port

    yield make
    for port, emulator in made:
        emulator.stop()
        port.close()


def gsm_line(port: str) -> LineSettings:
    return LineSettings(name="gsm1", port=port, kind="gsm")


# ---- GSM modules and voice modems -------------------------------------------------------

def test_healthy_gsm_module_passes_with_its_identity_sim_signal_and_network(devices):
    port = devices("gsm", model="EC25", rssi=23)
    result = check_line(gsm_line(port.path))
    assert result.status is Status.PASS, result
    assert result.name == "device:gsm1"
    assert "EC25 (Quectel), IMEI 867698041234567" in result.detail     # the IMEI is shown whole
    assert "SIM ready" in result.detail and "signal -67 dBm" in result.detail
    assert "registered home" in result.detail


def test_silent_module_fails_with_the_power_cable_and_modemmanager_hint(devices):
    port = devices("gsm", silent=True)
    result = check_line(gsm_line(port.path), at_timeout_s=0.5)
    assert result.status is Status.FAIL
    assert result.detail.startswith(f"no reply to AT on {port.path}")
    assert f"no reply to AT on {port.path}: check the module's power and the USB cable" in result.hint
    assert "ModemManager" in result.hint


def test_missing_sim_fails_with_the_sim_tray_hint(devices):
    result = check_line(gsm_line(devices("gsm", sim="missing").path))
    assert result.status is Status.FAIL
    assert "SIM missing" in result.detail and "IMEI 862636051234567" in result.detail
    assert "insert the SIM / check the SIM tray" in result.hint


def test_sim_asking_for_a_pin_fails(devices):
    result = check_line(gsm_line(devices("gsm", sim="pin").path))
    assert result.status is Status.FAIL and "SIM locked" in result.detail and "sim_pin" in result.hint


@pytest.mark.parametrize("rssi, detail", [(99, "signal unknown"), (3, "weak signal -107 dBm")])
def test_unknown_or_weak_signal_warns_about_the_antenna(devices, rssi, detail):
    result = check_line(gsm_line(devices("gsm", rssi=rssi).path))
    assert result.status is Status.WARN
    assert detail in result.detail and "antenna" in result.hint


@pytest.mark.parametrize("registration, status, detail", [
    (3, Status.FAIL, "network registration denied"),
    (2, Status.WARN, "searching for a network"),
    (5, Status.PASS, "registered roaming"),
])
def test_network_registration_states(devices, registration, status, detail):
    result = check_line(gsm_line(devices("gsm", registration=registration).path))
    assert result.status is status and detail in result.detail


def test_voice_modem_is_identified(devices):
    port = devices("voice")
    result = check_line(LineSettings(name="landline", port=port.path, kind="voice-modem"))
    assert result.status is Status.PASS
    assert result.detail == "voice modem CONEXANT CX93001-EIS"


def test_missing_port_fails_and_says_what_to_look_at(tmp_path):
    result = check_line(gsm_line(str(tmp_path / "ttyUSB-not-there")))
    assert result.status is Status.FAIL and result.detail.endswith("not present")
    assert "ls -l /dev/serial/by-id/" in result.hint


def test_unplugged_device_behind_a_by_id_style_link_fails(devices):
    port = devices("gsm")
    port.unplug()
    result = check_line(gsm_line(port.path))
    assert result.status is Status.FAIL and "not present" in result.detail


def test_port_held_by_another_process_fails_with_fuser_and_modemmanager_hints(devices):
    port = devices("gsm")
    holder = open_serial(port.path)
    try:
        result = check_line(gsm_line(port.path))
    finally:
        release(holder)
    assert result.status is Status.FAIL
    assert result.detail.startswith(f"{port.path} held by another process: ")
    assert f"(pid {os.getpid()})" in result.detail          # names who holds it
    assert f"fuser -v {port.path}" in result.hint and "ModemManager" in result.hint


def test_a_program_reading_the_port_without_a_lock_is_named(devices):
    """Like ModemManager or a forgotten `cat`: it does not lock, but steals the module's answers."""
    port = devices("gsm")
    code = ("import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK); "
            "print('open', flush=True); sys.stdin.read()")
    reader = subprocess.Popen([sys.executable, "-c", code, port.path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        result = check_line(gsm_line(port.path))
    finally:
        reader.stdin.close()
        reader.wait(10)
        reader.stdout.close()
    assert result.status is Status.WARN        # it answered this time, but the warning names the thief
    assert f"also open in {sys.executable} -c" in result.detail and f"(pid {reader.pid})" in result.detail
    assert "ModemManager" in result.hint


def test_an_emulator_in_another_process_is_the_device_not_a_rival(tmp_path):
    """The process driving a pty's master is the device end; only real competitors are named."""
    path = str(tmp_path / "ttyGSM")
    code = ("import sys; from firmware_bridge.pty import EmulatedPort; "
            "from firmware_bridge.at.emulator import GsmModemEmulator; "
            "port = EmulatedPort(sys.argv[1]); modem = GsmModemEmulator(port); "
            "print('ready', flush=True); sys.stdin.read(); modem.stop(); port.close()")
    device = subprocess.Popen([sys.executable, "-c", code, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert device.stdout.readline().strip() == "ready"
        result = check_line(gsm_line(path))
    finally:
        device.stdin.close()
        device.wait(10)
        device.stdout.close()
    assert result.status is Status.PASS, result
    assert "also open" not in result.detail


@pytest.mark.parametrize("cmdline, daemon", [
    ("/opt/appliance/venv/bin/python /opt/appliance/venv/bin/appliance run --config /etc/appliance/appliance.toml", True),
    ("/usr/bin/python3 -m appliance run --config x.toml", True),
    ("/root/project/.venv/bin/python /root/project/.venv/bin/appliance demo", True),
    ("/usr/bin/python3 -m appliance demo --plain --dir /tmp/d", True),
    ("/usr/bin/python3 -m appliance.demo", False),
    ("/opt/appliance/venv/bin/appliance selftest", False),
    ("/usr/bin/python3 -m appliance.central.cli serve --listen 127.0.0.1:0", False),
    ("/usr/sbin/ModemManager", False),
])
def test_only_appliance_run_and_demo_count_as_the_daemon(cmdline, daemon):
    assert is_daemon_cmdline(cmdline.split()) is daemon


# ---- PBX feeds ----------------------------------------------------------------------------

def panasonic(port: str) -> PbxSettings:
    return PbxSettings(name="pbx1", format="panasonic", port=port)


def store_record(data_dir, source: str, at: float) -> None:
    with Store(data_dir, site_id="site-a", now=lambda: at) as store:
        store.add([CallRecord(key=f"{source}-{at}", site_id="site-a", source=source,
                              source_kind="panasonic", direction="inbound", caller="+15551234567",
                              callee="201", dialled_number="", queue="", agent="201",
                              started_at="2026-11-22T12:00:00Z", answered_at="",
                              ended_at="2026-11-22T12:01:00Z", ring_s=60, talk_s=0, hold_s=0,
                              disposition="abandoned")])


@pytest.fixture
def pbx_port(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyPBX"))
    PanasonicEmulator(port).write_blank()        # a PBX on the line, idle between calls
    yield port
    port.close()


def test_panasonic_feed_with_recent_records_passes(tmp_path, pbx_port):
    data = tmp_path / "data"
    store_record(data, "pbx1", T0)
    result = check_panasonic(panasonic(pbx_port.path), str(data), now=lambda: T0 + 3 * 3600)
    assert result.status is Status.PASS
    assert result.detail == f"{pbx_port.path} present and opens; last record 3 h ago"


def test_panasonic_feed_quiet_for_days_or_never_heard_warns(tmp_path, pbx_port):
    data = tmp_path / "data"
    never = check_panasonic(panasonic(pbx_port.path), str(data), now=lambda: T0)
    assert never.status is Status.WARN and "no record stored from it yet" in never.detail
    assert "SMDR output on" in never.hint and "9600 baud, 8N1" in never.hint
    store_record(data, "pbx1", T0)
    store_record(data, "other", T0 + 3 * DAY)
    old = check_panasonic(panasonic(pbx_port.path), str(data), now=lambda: T0 + 3 * DAY)
    assert old.status is Status.WARN and "last record 3 days ago" in old.detail


def test_panasonic_port_missing_fails(tmp_path):
    result = check_panasonic(panasonic(str(tmp_path / "ttyUSB0")), str(tmp_path))
    assert result.status is Status.FAIL and "not present" in result.detail


def test_panasonic_port_busy_fails(tmp_path, pbx_port):
    holder = open_serial(pbx_port.path)
    try:
        result = check_panasonic(panasonic(pbx_port.path), str(tmp_path))
    finally:
        release(holder)
    assert result.status is Status.FAIL and "held by another process" in result.detail


def avaya(listen: str) -> PbxSettings:
    return PbxSettings(name="ipo", format="avaya-ipo", listen=listen)


def test_avaya_feed_with_nothing_listening_fails(tmp_path):
    port = free_port()
    result = check_avaya(avaya(f"127.0.0.1:{port}"), str(tmp_path))
    assert result.status is Status.FAIL
    assert f"nothing listens on 127.0.0.1:{port}" in result.detail
    assert "systemctl start appliance" in result.hint


def test_avaya_port_taken_by_another_program_fails(tmp_path):
    with AvayaReceiver("ipo", "127.0.0.1:0") as listener:
        result = check_avaya(avaya(f"0.0.0.0:{listener.port}"), str(tmp_path))
    assert result.status is Status.FAIL
    assert f"port {listener.port} is taken by another program" in result.detail
    assert f"(pid {os.getpid()})" in result.detail


# ---- loopback plug ------------------------------------------------------------------------

class FarEnd:
    """The wire beyond the port: echoes (a fitted loopback plug), optionally corrupting bytes."""

    def __init__(self, port: EmulatedPort, transform=lambda data: data):
        self.port, self.transform = port, transform
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="loopback-plug", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            ready, _, _ = select.select([self.port.master_fd, self._stop_r], [], [], 5)
            if self._stop_r in ready:
                return
            data = self.port.read()
            if data:
                self.port.write(self.transform(data))

    def stop(self):
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        os.close(self._stop_r)
        os.close(self._stop_w)


@pytest.fixture
def spare_port(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttySPARE"))
    yield port
    port.close()


def test_loopback_plug_fitted_passes(spare_port):
    plug = FarEnd(spare_port)
    try:
        result = check_loopback(spare_port.path)
    finally:
        plug.stop()
    assert result.status is Status.PASS and "64 random bytes came back intact" in result.detail


def test_loopback_without_plug_fails_with_the_pin_hint(spare_port):
    result = check_loopback(spare_port.path, timeout_s=0.3)
    assert result.status is Status.FAIL and "no data came back" in result.detail
    assert "fit the loopback plug (pins 2-3 on DB9)" in result.hint


def test_loopback_with_corrupted_bytes_fails(spare_port):
    plug = FarEnd(spare_port, transform=lambda data: bytes(b ^ 0x01 for b in data))
    try:
        result = check_loopback(spare_port.path, timeout_s=1.0)
    finally:
        plug.stop()
    assert result.status is Status.FAIL and "bytes came back" in result.detail
    assert "pins 2-3" in result.hint
