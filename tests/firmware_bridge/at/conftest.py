"""Fixtures for the AT line tests: a pty behind a stable path, emulators, drivers, leak checks."""
from __future__ import annotations

import select
import time

import pytest

from firmware_bridge.at import GsmModemEmulator, LineDriver, VoiceModemEmulator
from firmware_bridge.pty import EmulatedPort

FAST = 0.004          # real seconds per emulated second: a 5 s ring period is 20 ms


@pytest.fixture
def port(tmp_path):
    with EmulatedPort(str(tmp_path / "ttyAT0")) as emulated:
        yield emulated


@pytest.fixture
def make_gsm(port):
    made = []

    def make(**options) -> GsmModemEmulator:
        options.setdefault("time_scale", FAST)
        emulator = GsmModemEmulator(port, **options)
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.stop()


@pytest.fixture
def make_voice(port):
    made = []

    def make(**options) -> VoiceModemEmulator:
        options.setdefault("time_scale", FAST)
        emulator = VoiceModemEmulator(port, **options)
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.stop()


@pytest.fixture
def make_driver(port):
    made = []

    def make(kind: str = "gsm", **options) -> LineDriver:
        driver = LineDriver("line1", port.path, kind, **options)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


def _pump(driver: LineDriver, until, timeout: float = 5.0) -> list:
    """Collect events (read_events + poll) until `until(events)` holds; fail after `timeout` s."""
    events: list = []
    deadline = time.monotonic() + timeout
    while not until(events):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"condition not met within {timeout} s; events: {events}"
        select.select([driver.fileno()], [], [], min(remaining, 0.05))
        events.extend(driver.read_events())
        events.extend(driver.poll(time.monotonic()))
    return events


@pytest.fixture
def pump():
    return _pump


@pytest.fixture
def ready_gsm(make_gsm, make_driver, pump):
    """A SIM7600 emulator and an initialised driver: (emulator, driver)."""
    emulator = make_gsm()
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver.ready)
    return emulator, driver
