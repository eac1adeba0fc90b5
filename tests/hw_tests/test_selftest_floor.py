"""headset:<name> and wallboard:<name> self-tests against the shipped emulators on real sockets and ptys."""
from __future__ import annotations


import pytest

from firmware_bridge.headset import DESCRIPTORS
from firmware_bridge.headset.emulator import HeadsetEmulator
from firmware_bridge.headset.settings import HeadsetSettings
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.wallboard.emulator import SignEmulator
from firmware_bridge.wallboard.settings import WallboardSettings
from hw_tests.checks_devices import DeviceCheckContext
from hw_tests.checks_headsets import headset_device_check
from hw_tests.checks_wallboards import wallboard_device_check
from hw_tests.result import Status
from tests.helpers.waiting import wait_for

HID = DESCRIPTORS


def ctx(tmp_path) -> DeviceCheckContext:
    return DeviceCheckContext(data_dir=str(tmp_path), at_timeout_s=1.0)


def headset(tmp_path, descriptor: str) -> tuple[HeadsetSettings, HeadsetEmulator]:
    path = str(tmp_path / "hs.sock")
    emulator = HeadsetEmulator(path, str(HID / descriptor))
    return HeadsetSettings(name="hs-anna", hidraw=path, agent="anna", descriptor_file=str(HID / descriptor)), emulator


def test_a_telephony_headset_passes_with_its_controls_and_a_ring_led_round_trip(tmp_path):
    settings, emulator = headset(tmp_path, "jabra-link380c.bin")
    try:
        result = headset_device_check(settings, ctx(tmp_path))
        # the emulator's thread takes the two reports a moment after the check wrote them
        rings = wait_for(lambda: [c.value for c in emulator.led_history if c.name == "ring"][-2:] == [True, False],
                         5, message="Ring on then off at the headset")
    finally:
        emulator.stop()
    assert result.status is Status.PASS, result
    assert "hook" in result.detail and "Ring LED on and off" in result.detail and rings


def test_a_gaming_microphone_fails_and_says_so(tmp_path):
    settings, emulator = headset(tmp_path, "razer-rz19-0229-gaming-microphone.bin")
    try:
        result = headset_device_check(settings, ctx(tmp_path))
    finally:
        emulator.stop()
    assert result.status is Status.FAIL
    assert "cannot do call control" in result.detail and "gaming" in result.hint


def test_a_headset_that_is_not_plugged_in_fails_with_what_to_check(tmp_path):
    settings = HeadsetSettings(name="hs-bob", hidraw=str(tmp_path / "missing"), agent="bob",
                               descriptor_file=str(HID / "jabra-link380c.bin"))
    result = headset_device_check(settings, ctx(tmp_path))
    assert result.status is Status.FAIL and "not present" in result.detail and "udev" in result.hint


@pytest.fixture
def sign_port(tmp_path):
    with EmulatedPort(str(tmp_path / "ttyWB")) as port:
        yield port


def test_a_sign_that_replies_is_checked_against_the_layout_the_daemon_writes(sign_port):
    sign = SignEmulator(sign_port, ("01",))
    settings = WallboardSettings(name="wb", port=sign_port.path, address="01", queues=("support",))
    try:
        before = wallboard_device_check(settings, DeviceCheckContext(data_dir="/nonexistent"))
        from appliance.wallboard.output import WallboardOutput
        from appliance.wallboard.presenter import SignPresenter
        from firmware_bridge.wallboard.driver import WallboardDriver
        with WallboardDriver.from_settings(settings) as driver:     # what the daemon does at start
            WallboardOutput(SignPresenter(settings), driver).on_figures({"support": {"waiting": 1}})
            assert driver.drain(5)
        after = wallboard_device_check(settings, DeviceCheckContext(data_dir="/nonexistent"))
    finally:
        sign.stop()
    assert before.status is Status.WARN and "differs from the layout" in before.detail
    assert after.status is Status.PASS and "holds our layout" in after.detail


def test_a_sign_without_replies_is_reported_write_only(sign_port):
    sign = SignEmulator(sign_port, ("00",), replies=False)
    settings = WallboardSettings(name="wb", port=sign_port.path, queues=("support",))
    try:
        result = wallboard_device_check(settings, DeviceCheckContext(data_dir="/nonexistent", at_timeout_s=0.5))
    finally:
        sign.stop()
    assert result.status is Status.WARN and "write-only" in result.detail and "by eye" in result.hint
