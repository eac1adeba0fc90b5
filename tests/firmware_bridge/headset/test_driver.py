"""HeadsetDriver against HeadsetEmulator over real SOCK_SEQPACKET sockets; detect() on a fake sysfs."""
from __future__ import annotations

import os
import select

import pytest

from firmware_bridge.events import HeadsetButton, HookSwitch, PhoneMute, ProtocolError
from firmware_bridge.exceptions import DescriptorError, DeviceGone, DeviceNotFound, NotOpen
from firmware_bridge.headset.driver import HeadsetDriver
from firmware_bridge.headset.emulator import HeadsetEmulator
from firmware_bridge.headset.settings import HeadsetSettings
from firmware_bridge.registry import kind

from headset_layouts import UNNUMBERED
from headset_support import DATA

from helpers.waiting import wait_for

JABRA = str(DATA / "jabra-link380c.bin")


@pytest.fixture
def rig(tmp_path):
    """A Jabra Link 380c emulator and a driver opened on its socket; both stopped afterwards."""
    path = str(tmp_path / "headset.sock")
    emulator = HeadsetEmulator(path, JABRA)
    driver = HeadsetDriver("agent-7", path, descriptor_file=JABRA)
    driver.open()
    assert emulator.wait_connected()
    yield emulator, driver
    driver.close()
    emulator.stop()


def events_until(driver, count: int, timeout: float = 5.0) -> list:
    """Read events (waiting on the driver's descriptor) until `count` have arrived."""
    got: list = []

    def more():
        select.select(driver.filenos(), [], [], 0.05)
        got.extend(driver.read_events())
        return len(got) >= count
    wait_for(more, timeout, message=f"{count} headset events")
    return got


def test_lift_mute_and_buttons_arrive_as_requests(rig):
    emulator, driver = rig
    emulator.lift()
    assert events_until(driver, 1) == [HookSwitch(True)]
    emulator.press_mute()
    emulator.press("redial")
    assert events_until(driver, 2) == [PhoneMute(True), HeadsetButton("redial")]


def test_host_state_reaches_the_leds(rig):
    emulator, driver = rig
    driver.set_state(ring=True, off_hook=False, mute=False)
    assert emulator.wait_led("ring", True) and emulator.wait_led("ringer", True)
    driver.set_state(ring=False, off_hook=True, mute=True)
    assert emulator.wait_led("off_hook", True) and emulator.wait_led("mute", True)
    assert emulator.wait_led("microphone", True) and emulator.wait_led("ring", False)
    sent = len(emulator.raw_received)
    assert driver.set_state(ring=False, off_hook=True, mute=True) == []     # nothing changed: no write
    assert len(emulator.raw_received) == sent


def test_unplug_is_device_gone_once_then_replug_restores_the_leds(rig):
    emulator, driver = rig
    driver.set_state(ring=False, off_hook=True, mute=True)
    assert emulator.wait_led("mute", True)
    emulator.unplug()
    with pytest.raises(DeviceGone):
        wait_for(lambda: driver.read_events() and False, 5, message="DeviceGone")
    assert driver.read_events() == []                  # once only; the owner closes
    driver.close()
    with pytest.raises(DeviceNotFound):
        driver.open()                                  # the path is gone while unplugged
    emulator.replug()
    assert emulator.leds == {}
    driver.open()
    assert emulator.wait_led("off_hook", True) and emulator.wait_led("mute", True)
    history = [(c.name, c.value) for c in emulator.led_history[-6:]]
    assert history.index(("off_hook", True)) <= history.index(("mute", True))


def test_host_changes_while_unplugged_are_written_on_reopen(rig):
    emulator, driver = rig
    emulator.unplug()
    driver.close()
    assert driver.set_state(ring=True, off_hook=False, mute=False) == []
    emulator.replug()
    driver.open()
    assert emulator.wait_led("ring", True)


def test_hook_echo_quirk_is_ignored_and_counted(tmp_path):
    path = str(tmp_path / "echo.sock")
    with HeadsetEmulator(path, JABRA, echo_hook_on_led=True) as emulator:
        driver = HeadsetDriver("agent-8", path, descriptor_file=JABRA)
        with driver:
            driver.set_state(ring=False, off_hook=True, mute=False)
            wait_for(lambda: emulator.sent, message="the echo report")
            wait_for(lambda: driver.read_events() == [] and driver.counters()["echo_ignored"] == 1,
                     message="echo ignored")
            emulator.hang_up()
            assert events_until(driver, 1) == [HookSwitch(False)]


def test_double_reports_are_debounced(tmp_path):
    path = str(tmp_path / "double.sock")
    with HeadsetEmulator(path, JABRA, double_report=True) as emulator:
        with HeadsetDriver("agent-9", path, descriptor_file=JABRA) as driver:
            emulator.wait_connected()
            emulator.press_mute()
            assert events_until(driver, 1) == [PhoneMute(True)]
            wait_for(lambda: driver.read_events() == [] and driver.counters()["debounced"] >= 2,
                     message="duplicates counted")
            assert driver.status()["debounced"] >= 2


def test_garbage_report_is_a_protocol_error_and_the_driver_reads_on(rig):
    emulator, driver = rig
    emulator.send_raw(b"\x07\x01")
    emulator.lift()
    got = events_until(driver, 2)
    assert got == [ProtocolError("unknown input report id 7", b"\x07\x01"), HookSwitch(True)]
    assert driver.status()["errors"] == 1


def test_unnumbered_device_gets_the_leading_zero(tmp_path):
    path, desc = str(tmp_path / "u.sock"), tmp_path / "u.bin"
    desc.write_bytes(UNNUMBERED)
    with HeadsetEmulator(path, UNNUMBERED) as emulator:
        with HeadsetDriver("u", path, descriptor_file=str(desc)) as driver:
            driver.set_state(ring=False, off_hook=True, mute=False)
            assert emulator.wait_led("off_hook", True)
            assert emulator.raw_received[-1] == b"\x00\x01"


@pytest.mark.parametrize("name, reason", [("belkin-nostromo-speedpad-mouse.bin", "no telephony collection"),
                                          ("razer-kraken-kitty-v2.bin", "no Hook Switch")])
def test_device_without_call_control_is_refused_with_the_reason(tmp_path, name, reason):
    path = str(tmp_path / "x.sock")
    with HeadsetEmulator(path, str(DATA / name)) as emulator:
        driver = HeadsetDriver("desk-3", path, descriptor_file=str(DATA / name))
        with pytest.raises(DescriptorError, match=reason) as info:
            driver.open()
        assert "\n" not in str(info.value) and str(info.value).startswith("desk-3: refused")
        assert not driver.is_open and driver.filenos() == []
        with pytest.raises(NotOpen):
            driver.read_events()
        assert driver.identify()["reason"].endswith(find_reason(name))
        wait_for(lambda: not emulator.connected, message="refused connection closed")


def find_reason(name: str) -> str:
    from firmware_bridge.headset.controls import find_controls
    return find_controls((DATA / name).read_bytes()).reason


def test_socket_target_needs_a_descriptor_file(tmp_path):
    path = str(tmp_path / "s.sock")
    with HeadsetEmulator(path, JABRA):
        with pytest.raises(DescriptorError, match="descriptor_file is required"):
            HeadsetDriver("x", path).open()


def test_identify_and_status(tmp_path):
    path = str(tmp_path / "id.sock")
    with HeadsetEmulator(path, JABRA) as emulator:
        driver = HeadsetDriver("agent-1", path, descriptor_file=JABRA)
        info = driver.identify(timeout=2)
        assert info["call_control"] and info["led_round_trip"] == "ok"
        rings = lambda: [c.value for c in emulator.led_history if c.name == "ring"]   # noqa: E731
        wait_for(lambda: rings()[-2:] == [True, False], message="Ring on then off at the headset")
        assert not driver.is_open
        status = driver.status()
        assert status["capabilities"]["call_control"] and status["reports_out"] >= 2


def test_detect_finds_telephony_hidraw_nodes_in_sysfs(tmp_path):
    for node, name in (("hidraw0", "belkin-nostromo-speedpad-mouse.bin"), ("hidraw3", "jabra-link380c.bin"),
                       ("hidraw5", "razer-kraken-kitty-v2.bin")):
        os.makedirs(tmp_path / node / "device")
        (tmp_path / node / "device" / "report_descriptor").write_bytes((DATA / name).read_bytes())
    os.makedirs(tmp_path / "hidraw9" / "device")
    (tmp_path / "hidraw9" / "device" / "report_descriptor").write_bytes(b"\x05")    # malformed: skipped
    assert HeadsetDriver.detect(str(tmp_path)) == ["/dev/hidraw3", "/dev/hidraw5"]
    assert HeadsetDriver.detect(str(tmp_path / "none")) == []


def test_from_settings_and_registry():
    settings = HeadsetSettings("hs-1", "/dev/appliance/headset-x", agent="1001", descriptor_file=JABRA,
                               debounce_s=0.5).validate()
    entry = kind("headset")
    driver = entry.load("driver").from_settings(settings)
    assert (driver.name, driver.target, driver.descriptor_file, driver.debounce_s) == (
        "hs-1", "/dev/appliance/headset-x", JABRA, 0.5)
    assert entry.load("settings") is HeadsetSettings and entry.table == "headset" and entry.selector == ""
