"""Wallboard fixtures: an emulated serial line (pty), signs on it, and drivers that are always closed."""
from __future__ import annotations

import pytest

from firmware_bridge.pty import EmulatedPort
from firmware_bridge.wallboard.driver import WallboardDriver
from firmware_bridge.wallboard.emulator import SignEmulator


@pytest.fixture
def line(tmp_path):
    port = EmulatedPort(str(tmp_path / "wallboard"))
    yield port
    port.close()


@pytest.fixture
def make_sign(line):
    made: list[SignEmulator] = []

    def make(*addresses: str, **options) -> SignEmulator:
        sign = SignEmulator(line, addresses or ("00",), **options)
        made.append(sign)
        return sign

    yield make
    for sign in made:
        sign.stop()
        assert sign.crashed is None


@pytest.fixture
def make_driver(line):
    made: list[WallboardDriver] = []

    def make(*addresses: str, **options) -> WallboardDriver:
        driver = WallboardDriver("wb", line.path, addresses=addresses or ("00",), **options)
        driver.open()
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()
