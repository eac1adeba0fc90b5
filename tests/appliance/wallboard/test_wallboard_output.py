"""WallboardOutput end to end: presenter -> real driver -> pty -> emulated sign, what the floor sees."""
from __future__ import annotations

import select
import time

import pytest

from appliance.wallboard.output import WallboardOutput
from appliance.wallboard.levels import Thresholds
from appliance.wallboard.presenter import SignPresenter
from firmware_bridge.exceptions import DeviceGone
from firmware_bridge.wallboard.driver import WallboardDriver
from firmware_bridge.wallboard.emulator import SignEmulator
from firmware_bridge.wallboard.settings import WallboardSettings, group_by_port

TEMPLATE = "{queue} {waiting} waiting, longest {longest_wait}"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig(line):
    """Two signs on one line (01: sales, 02: support), one driver, one output per sign."""
    sign = SignEmulator(line, ("01", "02"))
    entries = [WallboardSettings(name=f"wb{a}", port=line.path, address=a, queues=(q,),
                                 template=TEMPLATE) for a, q in (("01", "sales"), ("02", "support"))]
    (group,) = group_by_port(entries)
    driver = WallboardDriver.from_settings(group)
    driver.open()
    clock = Clock()
    outputs = {e.address: WallboardOutput(SignPresenter(e, clock=clock, thresholds=Thresholds()), driver) for e in entries}
    yield sign, driver, outputs, clock
    driver.close()
    sign.stop()
    assert sign.crashed is None


def shows(sign, address, text):
    return sign.wait_until(lambda: sign.render(address) == text)


def test_layout_once_then_only_string_writes_reach_the_sign(rig):
    sign, driver, outputs, clock = rig
    for output in outputs.values():
        output.tick()
    assert shows(sign, "01", "sales -- waiting, longest --")
    assert shows(sign, "02", "support -- waiting, longest --")
    after_layout = sign.counts("01")
    assert after_layout == {"E$": 1, "A": 1, "G": 2, "A0": 1}
    for waiting in range(1, 6):
        clock.now += 1
        outputs["01"].on_figures({"sales": {"waiting": waiting, "longest_wait": 60 + waiting}})
    assert shows(sign, "01", "sales 5 waiting, longest 1:05")
    updates = sign.counts("01") - after_layout
    assert set(updates) == {"G"} and updates["G"] == 10
    assert sign.render("02") == "support -- waiting, longest --"       # the other sign untouched
    assert sign.colour("01") == "green"


def test_colour_follows_thresholds_with_one_text_rewrite(rig):
    sign, driver, outputs, clock = rig
    outputs["01"].tick()
    clock.now += 1
    outputs["01"].on_figures({"sales": {"waiting": 9, "longest_wait": 200}})
    assert sign.wait_until(lambda: sign.colour("01") == "red")
    assert shows(sign, "01", "sales 9 waiting, longest 3:20")
    assert sign.counts("01")["A"] == 2


def test_stale_warning_shown_then_cleared(rig):
    sign, driver, outputs, clock = rig
    out = outputs["02"]
    out.tick()
    out.on_sources({"pbx1": (False, clock.now)})
    clock.now = out.next_due()
    out.tick()
    assert shows(sign, "02", "NO LIVE DATA: pbx1 DOWN") and sign.colour("02") == "red"
    clock.now += 1
    out.on_sources({"pbx1": (True, clock.now)})
    assert shows(sign, "02", "support -- waiting, longest --")


def test_unplug_then_replug_configures_the_sign_again(rig, line):
    sign, driver, outputs, clock = rig
    out = outputs["01"]
    out.on_figures({"sales": {"waiting": 2, "longest_wait": 30}})
    assert shows(sign, "01", "sales 2 waiting, longest 0:30")
    sign.unplug()
    with pytest.raises(DeviceGone):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            select.select(driver.filenos(), [], [], 0.1)
            driver.read_events()
    driver.close()
    clock.now += 1
    out.on_figures({"sales": {"waiting": 4, "longest_wait": 30}})     # waits while closed
    sign.replug(reset=True)                                             # the sign lost its memory
    assert sign.render("01") == ""
    driver.open()
    out.on_replug()
    assert shows(sign, "01", "sales 4 waiting, longest 0:30")
    expected = {"E$": 1, "A": 1, "G": 2, "A0": 1}                 # the whole sign, written once
    assert sign.wait_until(lambda: sign.counts("01") == expected, 5), sign.counts("01")


def test_ack_mode_rewrites_a_sign_that_missed_a_packet(line):
    sign = SignEmulator(line, ("01",), ack=True)
    settings = WallboardSettings(name="wb", port=line.path, address="01", queues=("sales",),
                                 template=TEMPLATE, ack=True, ack_timeout_s=0.2, retries=1)
    driver = WallboardDriver.from_settings(settings)
    clock = Clock()
    out = WallboardOutput(SignPresenter(settings, clock=clock, thresholds=Thresholds()), driver)
    try:
        driver.open()
        out.tick()
        assert driver.drain(10)
        sign.ignore_next(2)                      # both tries of the next write are lost
        clock.now += 1
        out.on_figures({"sales": {"waiting": 7, "longest_wait": 1}})
        assert driver.drain(10) and driver.given_up("01") == 1
        clock.now += 1
        assert [w.kind for w in out.tick()][0] == "config"         # the whole sign again
        assert driver.drain(10)
        assert sign.render("01") == "sales 7 waiting, longest 0:01"
    finally:
        driver.close()
        sign.stop()
