"""`appliance demo`: the daemon with emulated devices, two local centrals and a live summary screen."""
from __future__ import annotations

import asyncio
import logging
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from appliance.config import load_config

log = logging.getLogger("appliance.demo")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Central:
    """A reference central as a real subprocess; restarted by the demo if it dies (to show failback)."""

    def __init__(self, name: str, workdir: Path, pki: Path | None):
        self.name, self.workdir, self.pki = name, workdir, pki
        self.port = _free_port()
        self.db = workdir / f"central-{name}.db"
        self.pid_file = workdir / f"central-{name}.pid"
        self.log_file = workdir / f"central-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.died_at: float | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "appliance.central.cli", "serve", "--listen", self.endpoint,
               "--db", str(self.db)]
        if self.pki:
            cmd += ["--cert", str(self.pki / "central.pem"), "--key", str(self.pki / "central.key"),
                    "--client-ca", str(self.pki / "ca.pem")]
        with open(self.log_file, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(f"{self.proc.pid}\n")
        self.died_at = None

    def check(self, restart_after_s: float) -> str:
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


def _demo_config(workdir: Path, avaya_port: int, traffic: Traffic, centrals: list[Central], pki: Path | None) -> Path:
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
failback_after = 10.0
'''
    path = workdir / "appliance.toml"
    path.write_text(text)
    return path


def _render(daemon, centrals: list[Central], workdir: Path, started: float):
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table
    st = daemon.status()
    devices = Table(title="Devices", expand=True)
    for col in ("device", "kind", "state", "for", "events", "errors", "last error"):
        devices.add_column(col)
    for d in st["devices"]:
        colour = "green" if d["state"] == "UP" else "red"
        devices.add_row(d["name"], d["kind"], f"[{colour}]{d['state']}[/]", f"{d['for_s']:.0f}s",
                        str(d["events"]), str(d["errors"]), escape(d["last_error"][:40]))
    queues = Table(title="Queues (today)", expand=True)
    for col in ("queue", "waiting", "longest wait", "agents free/on call", "answered", "abandoned", "service level"):
        queues.add_column(col)
    for name, q in st.get("stats", {}).get("queues", {}).items():
        live, today = q["live"], q["today"]
        sl = "-" if today["service_level_pct"] is None else f"{today['service_level_pct']:.0f}%"
        if live["live_available"]:
            waiting, longest = str(live["waiting"]), f"{live['longest_wait_now_s'] or 0:.0f}s"
            agents = f"{live['agents_available']}/{live['agents_on_call']}"
        else:
            waiting = longest = agents = "n/a (PBX records only)"
        queues.add_row(name or "(none)", waiting, longest, agents, str(today["answered"]),
                       str(today["abandoned"]), sl)
    lines = [f"records stored: [bold]{st['records_durable']}[/]   calls finished: {st['calls_finished']}   "
             f"in progress: {st['calls_in_progress']}   unparseable input kept: {st['protocol_errors']}"]
    central = st.get("central")
    if central:
        age = central.get("oldest_unsent_age_s")
        lines.append(f"central: [bold]{central.get('active_endpoint') or 'none'}[/]   backlog: "
                     f"{central.get('backlog')}   oldest unsent: {'-' if age is None else f'{age:.0f}s'}   "
                     f"acked: {central.get('acked_total')}   failovers: {central.get('failovers')}   "
                     f"failbacks: {central.get('failbacks')}")
        if central.get("last_error"):
            lines.append(f"[yellow]last error: {escape(central['last_error'][:100])}[/]")
        for c in centrals:
            lines.append(f"  {c.name:8} {c.endpoint}  {c.check(20.0)}")
        lines.append(f"Try a failover:  kill $(cat {centrals[0].pid_file})   (restarted after 20 s; "
                     f"the daemon fails back once it has been healthy 10 s)")
    lines.append(f"data: {workdir}   running {time.monotonic() - started:.0f}s   Ctrl-C to stop")
    return Panel(Group(devices, queues, "\n".join(lines)), title="call-centre site appliance: demo")


def run_demo(args) -> int:
    from appliance.daemon import Daemon
    from appliance.ops.logsetup import setup_logging
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="appliance-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "demo.log").touch()
    setup_logging("info")
    handler = logging.FileHandler(workdir / "demo.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not args.plain:
        for h in list(root.handlers):
            root.removeHandler(h)
    root.addHandler(handler)

    centrals: list[Central] = []
    pki = None
    if not args.no_central:
        from appliance.ops.pki import init_pki
        pki = workdir / "pki"
        if not (pki / "site.pem").exists():
            init_pki(pki, "demo-site")
        centrals = [Central("primary", workdir, pki), Central("standby", workdir, pki)]
        for c in centrals:
            c.start()
    avaya_port = _free_port()
    traffic = Traffic(workdir, avaya_port, args.calls_per_minute)
    config = load_config(_demo_config(workdir, avaya_port, traffic, centrals, pki))
    daemon = Daemon(config)
    started = time.monotonic()

    async def main() -> None:
        task = asyncio.create_task(daemon.run(), name="daemon")
        await daemon.wait_ready()
        loop = asyncio.get_running_loop()
        traffic.dial = lambda line, number: loop.call_soon_threadsafe(daemon.dial, line, number)
        traffic.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, daemon.stop)
        deadline = started + args.duration if args.duration else None
        if args.plain:
            while not task.done() and (deadline is None or time.monotonic() < deadline):
                print(daemon.status_line(), flush=True)
                for c in centrals:
                    c.check(20.0)
                await asyncio.wait({task}, timeout=2.0)
        else:
            from rich.live import Live
            with Live(_render(daemon, centrals, workdir, started), refresh_per_second=2, screen=False) as live:
                while not task.done() and (deadline is None or time.monotonic() < deadline):
                    await asyncio.wait({task}, timeout=0.5)
                    live.update(_render(daemon, centrals, workdir, started))
        daemon.stop()
        await task

    try:
        asyncio.run(main())
    finally:
        traffic.stop()
        for c in centrals:
            c.stop()
    st = daemon.status()
    print(f"demo stopped: {st['records_durable']} records stored in {workdir / 'data'}; "
          f"log in {workdir / 'demo.log'}")
    return 0
