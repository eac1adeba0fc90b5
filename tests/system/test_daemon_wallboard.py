"""The real daemon driving emulated Alpha signs on a pty: two signs on one RS-485 line, each
showing its own queue, fed by emulated GSM modules on their own ptys.

What a supervisor sees: a caller waiting appears on the sign and goes when they hang up; past the
queue's alert threshold the page goes red and the daemon logs ALERT; a line unplugged long enough
puts a warning on the sign that goes when the line is back; a sign power-cycled (memory lost) is
configured again and shows the figures again."""
from __future__ import annotations

import pytest

from firmware_bridge.at import GsmModemEmulator
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.wallboard.emulator import SignEmulator
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.system

TEMPLATE = "{queue} {waiting} waiting"


def config(tmp_path, sign_port: str, lines: dict[str, str]) -> str:
    text = (f'[site]\nid = "site-floor"\ndata_dir = "{tmp_path / "data"}"\n'
            f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n')
    for queue, port in lines.items():
        text += (f'[[line]]\nname = "gsm-{queue}"\nport = "{port}"\nqueue = "{queue}"\nring_timeout = 3.0\n'
                 f'reconnect_delay = 0.05\nreconnect_delay_max = 0.2\n')
    text += '[[queue]]\nname = "support"\nalert_waiting = 1\n[[queue]]\nname = "sales"\n'
    for address, queue in (("01", "support"), ("02", "sales")):
        text += (f'[[wallboard]]\nname = "sign-{queue}"\nport = "{sign_port}"\naddress = "{address}"\n'
                 f'queues = ["{queue}"]\ntemplate = "{TEMPLATE}"\nstale_after_s = 1.0\n'
                 f'min_interval_s = 0.05\nreconnect_delay = 0.05\nreconnect_delay_max = 0.2\n')
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def floor(tmp_path):
    sign_port = EmulatedPort(str(tmp_path / "ttySIGN"))
    sign = SignEmulator(sign_port, addresses=("01", "02"))
    ports = {q: EmulatedPort(str(tmp_path / f"tty-{q}")) for q in ("support", "sales")}
    modems = {q: GsmModemEmulator(p, ring_period=2.0, time_scale=0.25) for q, p in ports.items()}
    path = config(tmp_path, sign_port.path, {q: p.path for q, p in ports.items()})
    try:
        with DaemonProcess(path) as daemon:
            daemon.start()
            for modem in modems.values():
                wait_for(lambda m=modem: "AT+CLCC=1" in m.commands, 10, message="module initialised")
            yield sign, modems, daemon
    finally:
        for modem in modems.values():
            modem.stop()
        sign.stop()
        for p in (sign_port, *ports.values()):
            p.close()


def shows(sign: SignEmulator, address: str, text: str, timeout: float = 10.0) -> bool:
    return sign.wait_until(lambda: sign.render(address) == text, timeout)


def test_each_sign_shows_its_queue_callers_come_and_go(floor):
    sign, modems, daemon = floor
    assert shows(sign, "01", "support 0 waiting") and shows(sign, "02", "sales 0 waiting")
    layouts = sign.counts()["E$"]
    modems["sales"].incoming_call("+441632960123", rings=3)          # nobody answers: abandons
    assert shows(sign, "02", "sales 1 waiting"), sign.render("02")
    assert sign.render("01") == "support 0 waiting"                 # the other sign keeps its queue
    assert shows(sign, "02", "sales 0 waiting", timeout=15), sign.render("02")
    assert sign.counts()["E$"] == layouts                           # figures change: no new layout
    assert sign.colour("02") == "green"
    assert daemon.terminate() == 0


def test_alert_turns_the_page_red_and_is_logged(floor):
    sign, modems, daemon = floor
    assert shows(sign, "01", "support 0 waiting") and sign.colour("01") == "green"
    modems["support"].incoming_call("+441632960001", rings=3)        # alert_waiting = 1: raised
    assert shows(sign, "01", "support 1 waiting")
    assert sign.wait_until(lambda: sign.colour("01") == "red", 5), sign.colour("01")
    wait_for(lambda: "ALERT: queue support: calls waiting 1" in daemon.log_text(), 5, message="the alert logged")
    assert sign.colour("02") == "green"                              # the other queue's sign is not
    assert shows(sign, "01", "support 0 waiting", timeout=15)        # the caller gives up
    assert sign.wait_until(lambda: sign.colour("01") == "green", 5), sign.colour("01")
    assert "+441632960001" not in daemon.log_text()                  # numbers masked in the log
    assert daemon.terminate() == 0


def test_a_line_down_long_enough_warns_on_its_sign_only_and_clears_when_back(floor):
    sign, modems, daemon = floor
    assert shows(sign, "01", "support 0 waiting") and shows(sign, "02", "sales 0 waiting")
    modems["sales"].unplug()
    assert sign.wait_until(lambda: "gsm-sales" in sign.render("02"), 10), sign.render("02")
    assert sign.colour("02") == "red"
    assert sign.render("01") == "support 0 waiting"                  # its own line is up
    modems["sales"].replug()
    assert shows(sign, "02", "sales 0 waiting"), sign.render("02")
    assert daemon.terminate() == 0


def test_a_sign_power_cycled_is_configured_again(floor):
    sign, modems, daemon = floor
    assert shows(sign, "01", "support 0 waiting") and shows(sign, "02", "sales 0 waiting")
    sign.replug(reset=True)                          # memory (and the emulator's counts) lost
    assert sign.wait_until(lambda: sign.counts()["E$"] >= 1, 10), "the memory table written again"
    assert shows(sign, "01", "support 0 waiting") and shows(sign, "02", "sales 0 waiting")
    modems["support"].incoming_call("+441632960002", rings=3)
    assert shows(sign, "01", "support 1 waiting")
    assert daemon.terminate() == 0
