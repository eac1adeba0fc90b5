"""The real daemon, an emulated GSM module on a pty and emulated headsets on real SOCK_SEQPACKET sockets:
agents answer the site's line, mute, hang up; the caller leaves as they answer; a headset unplugged mid-call."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_bridge.headset import DESCRIPTORS
from firmware_bridge.at import GsmModemEmulator
from firmware_bridge.headset.emulator import HeadsetEmulator
from firmware_bridge.pty import EmulatedPort
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import wait_for
from tests.helpers.site_db import cdr_rows

pytestmark = pytest.mark.system

HID = DESCRIPTORS
DESCRIPTORS = {"anna": HID / "jabra-link380c.bin", "bob": HID / "dell-sp325.bin"}   # two vendors' layouts


def config(tmp_path: Path, port: str) -> Path:
    text = (f'[site]\nid = "site-agents"\ndata_dir = "{tmp_path / "data"}"\n'
            f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n'
            f'[[line]]\nname = "gsm1"\nport = "{port}"\nqueue = "support"\nring_timeout = 3.0\n'
            f'reconnect_delay = 0.05\nreconnect_delay_max = 0.2\n'
            f'[[queue]]\nname = "support"\nwrap_up_s = 1\n')
    for agent, descriptor in DESCRIPTORS.items():
        text += (f'[[headset]]\nname = "hs-{agent}"\nhidraw = "{tmp_path / f"hs-{agent}.sock"}"\n'
                 f'descriptor_file = "{descriptor}"\nagent = "{agent}"\nqueues = ["support"]\n'
                 f'reconnect_delay = 0.05\nreconnect_delay_max = 0.2\n')
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path


def cdrs(tmp_path: Path) -> list[dict]:
    return cdr_rows(tmp_path / "data")

def agents(config_path: Path) -> dict[str, dict]:
    out = subprocess.run([sys.executable, "-m", "appliance", "status", "--json", "--config", str(config_path)],
                         capture_output=True, text=True, timeout=20)
    return {a["name"]: a for a in json.loads(out.stdout).get("agents", [])} if out.returncode == 0 else {}


@pytest.fixture
def site(tmp_path):
    port = EmulatedPort(str(tmp_path / "ttyGSM"))
    modem = GsmModemEmulator(port, ring_period=2.0, time_scale=0.25)
    headsets = {a: HeadsetEmulator(str(tmp_path / f"hs-{a}.sock"), str(d)) for a, d in DESCRIPTORS.items()}
    path = config(tmp_path, port.path)
    try:
        with DaemonProcess(path) as daemon:
            daemon.start()
            wait_for(lambda: all(h.connected for h in headsets.values()), 10, message="headsets opened")
            wait_for(lambda: "AT+CLCC=1" in modem.commands, 10, message="module initialised")
            yield modem, headsets, daemon, path
    finally:
        for h in headsets.values():
            h.stop()
        modem.stop()
        port.close()


def test_two_headsets_ring_one_answers_mutes_and_hangs_up(site, tmp_path):
    modem, hs, daemon, path = site
    modem.incoming_call("+441632960123", rings=20, talk_s=120, end="local")
    assert hs["anna"].wait_led("ring", True, 10) and hs["bob"].wait_led("ring", True, 10)
    hs["anna"].lift()
    wait_for(lambda: "ATA" in modem.commands, 5, message="the module is told to answer")
    assert hs["bob"].wait_led("ring", False, 5)                 # the other headset stops ringing
    assert hs["anna"].wait_led("off_hook", True, 5) and hs["anna"].wait_led("ring", False, 5)
    wait_for(lambda: agents(path).get("anna", {}).get("state") == "on_call", 10, message="anna on the call")
    hs["anna"].press_mute()
    assert hs["anna"].wait_led("mute", True, 5)
    time.sleep(0.4)       # the agent presses again a moment later: a press within debounce_s (0.3 s) is one press
    hs["anna"].press_mute()
    assert hs["anna"].wait_led("mute", False, 5)
    hs["anna"].hang_up()
    wait_for(lambda: "AT+CHUP" in modem.commands, 5, message="on-hook hangs the line up")
    [row] = wait_for(lambda: cdrs(tmp_path), 10, message="the call recorded")
    assert (row["disposition"], row["agent"], row["headset"], row["caller"]) == (
        "answered", "anna", "hs-anna", "+441632960123")
    assert len(json.loads(row["mute_intervals"])) == 1 and row["muted_s"] > 0
    assert row["wrap_up_s"] == 1 and row["headset_lost"] == 0
    assert not hs["anna"].leds.get("off_hook") and not hs["anna"].leds.get("mute")
    assert daemon.terminate() == 0


def test_the_caller_leaves_at_the_moment_of_answer(site, tmp_path):
    modem, hs, daemon, path = site
    modem.incoming_call("+441632960999", rings=20, leaves_at_answer=True)
    assert hs["anna"].wait_led("ring", True, 10)
    hs["anna"].lift()
    [row] = wait_for(lambda: cdrs(tmp_path), 10, message="the call recorded")
    assert row["disposition"] == "abandoned" and row["headset"] == ""
    assert hs["anna"].wait_led("ring", False, 5) and hs["bob"].wait_led("ring", False, 5)
    wait_for(lambda: agents(path).get("anna", {}).get("state") == "available", 10, message="anna available again")
    assert daemon.terminate() == 0


def test_a_headset_unplugged_mid_call_the_call_goes_on_and_the_record_says_so(site, tmp_path):
    modem, hs, daemon, path = site
    modem.incoming_call("+441632960555", rings=20, talk_s=8, end="remote")
    assert hs["anna"].wait_led("ring", True, 10)
    hs["anna"].lift()
    assert hs["anna"].wait_led("off_hook", True, 10)
    hs["anna"].unplug()
    wait_for(lambda: agents(path).get("anna", {}).get("state") == "logged_out", 10, message="anna DOWN")
    hs["anna"].replug()
    assert hs["anna"].wait_led("off_hook", True, 10)              # the LEDs come back with the state
    [row] = wait_for(lambda: cdrs(tmp_path), 15, message="the far end hangs up")
    assert (row["disposition"], row["agent"], row["headset_lost"]) == ("answered", "anna", 1)
    assert daemon.terminate() == 0


def test_a_paused_agent_is_not_rung_and_rings_again_when_resumed(site, tmp_path):
    modem, hs, daemon, path = site
    run = lambda *a: subprocess.run([sys.executable, "-m", "appliance", "agent", *a, "--config", str(path)],  # noqa: E731
                                    capture_output=True, text=True, timeout=20)
    assert run("pause", "bob", "--reason", "lunch").returncode == 0
    listed = run("list")
    assert "bob" in listed.stdout and "paused" in listed.stdout and "lunch" in listed.stdout
    modem.incoming_call("+441632960777", rings=20, talk_s=120, end="local")
    assert hs["anna"].wait_led("ring", True, 10)
    assert not hs["bob"].leds.get("ring")                      # paused: not rung
    assert run("resume", "bob").returncode == 0
    assert hs["bob"].wait_led("ring", True, 10)                # available again: the waiting call rings him
    assert run("pause", "nobody").returncode == 1              # an unknown agent is a clear error
    assert daemon.terminate() == 0
