"""The demo's parts: local centrals as real subprocesses, emulated devices with call traffic, the config."""
from __future__ import annotations

import logging
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

log = logging.getLogger("appliance.demo")

RESTART_AFTER_S = 20.0          # a killed central is restarted after this long (to show failback)
FAILBACK_AFTER_S = 10.0         # [central] failback_after in the demo's config


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Central:
    """A reference central as a real subprocess; restarted by the demo if it dies (to show failback)."""

    def __init__(self, name: str, workdir: Path, pki: Path | None):
        self.name, self.workdir, self.pki = name, workdir, pki
        self.port = free_port()
        self.db = workdir / f"central-{name}.db"
        self.pid_file = workdir / f"central-{name}.pid"
        self.log_file = workdir / f"central-{name}.log"
        self.port_file = workdir / f"central-{name}.port"     # written by the central once it serves
        self.proc: subprocess.Popen | None = None
        self.died_at: float | None = None
        self.state = "stopped"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "appliance.central.cli", "serve", "--listen", self.endpoint,
               "--db", str(self.db), "--port-file", str(self.port_file)]
        if self.pki:
            cmd += ["--cert", str(self.pki / "central.pem"), "--key", str(self.pki / "central.key"),
                    "--client-ca", str(self.pki / "ca.pem")]
        with open(self.log_file, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(f"{self.proc.pid}\n")
        self.died_at = None

    def wait_serving(self, timeout_s: float) -> bool:
        """Until the central serves (its port file exists) or has died; False if it is not serving."""
        deadline = time.monotonic() + timeout_s
        while not self.port_file.exists():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)        # polling a file another process writes: a bounded wait
        return True

    def check(self, restart_after_s: float) -> str:
        """Restart the central once it has been dead for restart_after_s; `state` says how it is."""
        self.state = self._check(restart_after_s)
        return self.state

    def _check(self, restart_after_s: float) -> str:
        if self.proc is None:
            return "stopped"
        if self.proc.poll() is None:
            return "running"
        now = time.monotonic()
        if self.died_at is None:
            self.died_at = now
        if now - self.died_at >= restart_after_s:
            self.start()
            return "restarting"
        return f"down (restart in {restart_after_s - (now - self.died_at):.0f}s)"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Traffic:
    """Drives the emulated devices with a realistic, varied stream of calls."""

    def __init__(self, workdir: Path, avaya_port: int, calls_per_minute: float, seed: int = 1):
        from firmware_bridge.at.emulator import GsmModemEmulator
        from firmware_bridge.pty import EmulatedPort
        from firmware_bridge.smdr.emulator import AvayaEmulator, PanasonicEmulator
        from firmware_bridge.smdr.panasonic import PanasonicOptions
        self.rng = random.Random(seed)
        self.interval = 60.0 / max(calls_per_minute, 0.1)
        self.panasonic_options = PanasonicOptions(date_order="DMY", clock="24h")
        self.ports = {name: EmulatedPort(str(workdir / f"tty-{name}")) for name in ("kxtda", "gsm1", "gsm2")}
        self.avaya = AvayaEmulator("127.0.0.1", avaya_port, leading_nuls=1).start()
        self.panasonic = PanasonicEmulator(self.ports["kxtda"], self.panasonic_options, page_length=40)
        # Emulated time runs 5x faster on the GSM lines so calls come and go within seconds.
        self.gsm = {name: GsmModemEmulator(self.ports[name], ring_period=5.0, time_scale=0.2,
                                           model=model)
                    for name, model in (("gsm1", "SIM7600"), ("gsm2", "EC25"))}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._call_id = 1000020000
        self.dial = None            # set to a thread-safe "dial(line, number)" once the daemon runs

    def path(self, name: str) -> str:
        return self.ports[name].path

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from firmware_bridge.smdr.traffic import generate_avaya_calls, generate_panasonic_calls
        n = 0
        while not self._stop.wait(self.interval / 3):
            n += 1
            # PBXs print a record when the call ends: start the generated call far enough back
            # that it has ended by now (the generators' calls last up to about ten minutes).
            now = datetime.now().replace(microsecond=0) - timedelta(minutes=12)
            which = n % 3
            try:
                if which == 0:
                    call = generate_avaya_calls(1, start=now, seed=self.rng.randrange(1 << 30),
                                                first_call_id=self._call_id)[0]
                    self._call_id += 1
                    self.avaya.send(call)
                elif which == 1:
                    for rec in generate_panasonic_calls(1, start=now, seed=self.rng.randrange(1 << 30),
                                                        options=self.panasonic_options)[0]:
                        self.panasonic.write_record(rec)
                else:
                    self._gsm_call()
            except Exception as exc:  # the demo keeps going; a device may be unplugged by the user
                log.debug("demo traffic: %s", exc)

    def _gsm_call(self) -> None:
        rng = self.rng
        idle = [name for name, emulator in self.gsm.items() if emulator.wait_idle(0)]
        if not idle:
            return          # both lines busy: a real line would not queue calls either
        name = rng.choice(idle)
        line = self.gsm[name]
        number = f"+4477009{rng.randrange(10000, 99999)}"
        pick = rng.random()
        if pick < 0.35 and self.dial is not None:
            # An agent dials out: the module answers the daemon's ATD as scripted here.
            line.outgoing_call(number, outcome=rng.choice(["answered", "busy", "no_answer"]),
                               alert_s=rng.uniform(3, 15), talk_s=rng.uniform(20, 90))
            self.dial(name, number)
        elif pick < 0.6:
            line.incoming_call(number, rings=4, answer_after_rings=rng.randint(1, 3),
                               talk_s=rng.uniform(20, 120))
        elif pick < 0.85:
            line.incoming_call(number, rings=rng.randint(1, 3),
                               abandon_style=rng.choice(["no_carrier", "missed_call", "clcc", "rings_stop"]))
        else:
            line.incoming_call("", rings=4, answer_after_rings=2, talk_s=rng.uniform(10, 60), withheld=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.avaya.close()
        for emulator in self.gsm.values():
            emulator.stop()
        for port in self.ports.values():
            port.close()


def write_config(workdir: Path, avaya_port: int, traffic: Traffic, centrals: list[Central], pki: Path | None) -> Path:
    text = f'''# Generated by `appliance demo`.
[site]
id = "demo-site"
data_dir = "{workdir / "data"}"

[log]
level = "warning"

[control]
socket = "{workdir / "control.sock"}"

[metrics]
listen = "127.0.0.1:0"

[[pbx]]
name = "ipo"
format = "avaya-ipo"
listen = "127.0.0.1:{avaya_port}"
queue = "sales"

[[pbx]]
name = "kxtda"
format = "panasonic"
port = "{traffic.path("kxtda")}"
date_order = "DMY"
clock = "24h"
queue = "support"
reconnect_delay = 0.5
reconnect_delay_max = 5.0
'''
    for name in ("gsm1", "gsm2"):
        text += f'''
[[line]]
name = "{name}"
port = "{traffic.path(name)}"
kind = "gsm"
queue = "support"
ring_timeout = 2.0
reconnect_delay = 0.5
reconnect_delay_max = 5.0
'''
    if centrals:
        eps = ", ".join(f'"{c.endpoint}"' for c in centrals)
        text += f'''
[central]
endpoints = [{eps}]
ca_file = "{pki / "ca.pem"}"
cert_file = "{pki / "site.pem"}"
key_file = "{pki / "site.key"}"
failback_after = {FAILBACK_AFTER_S}
'''
    path = workdir / "appliance.toml"
    path.write_text(text)
    return path
