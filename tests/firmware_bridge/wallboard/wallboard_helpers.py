"""Test helpers: the golden Alpha packets of hardware.md, and a driver run the way the daemon's loop does."""
from __future__ import annotations

import select
import time
from pathlib import Path

from firmware_bridge.wallboard.driver import WallboardDriver

DATA = Path(__file__).resolve().parents[2] / "data" / "alpha_hardware_md.txt"


def golden() -> dict[str, bytes]:
    """name -> bytes, from tests/data/alpha_hardware_md.txt (hex, one packet a line)."""
    out = {}
    for line in DATA.read_text().splitlines():
        if line and not line.startswith("#"):
            name, hexbytes = line.split(None, 1)
            out[name] = bytes.fromhex(hexbytes)
    return out


GOLDEN = golden()


def run_until(driver: WallboardDriver, condition, timeout: float = 5.0) -> list:
    """Run the driver as the daemon's loop would (select, read_events, poll) until condition()."""
    events: list = []
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the driver")
        if select.select(driver.filenos(), [], [], 0.02)[0]:
            events += driver.read_events()
        events += driver.poll(time.monotonic())
    return events
