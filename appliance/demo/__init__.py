"""`appliance demo`: the daemon with emulated devices, two local centrals and a live summary screen."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path

from appliance.config import load_config
from appliance.demo.parts import RESTART_AFTER_S, Central, Traffic, free_port, write_config

log = logging.getLogger("appliance.demo")

CENTRAL_START_S = 20.0          # how long start() waits for each central to serve


class Demo:
    """Every part of the demo in one working directory: PKI, centrals, emulated devices, the daemon.

    `start()` brings up the centrals and the emulators and builds the daemon (not yet running: its
    `run()` belongs on the caller's loop); `screen()` is what the live view shows; `stop()` ends
    what start() began. The daemon runs in this process, like `appliance run`.
    """

    def __init__(self, workdir: Path, *, calls_per_minute: float = 60.0, with_central: bool = True):
        self.workdir = Path(workdir)
        self.calls_per_minute = calls_per_minute
        self.with_central = with_central
        self.centrals: list[Central] = []
        self.traffic: Traffic | None = None
        self.daemon = None
        self.started = time.monotonic()

    def start(self) -> "Demo":
        from appliance.daemon import Daemon
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = None
        if self.with_central:
            from appliance.ops.pki import init_pki
            pki = self.workdir / "pki"
            if not (pki / "site.pem").exists():
                init_pki(pki, "demo-site")
            self.centrals = [Central("primary", self.workdir, pki), Central("standby", self.workdir, pki)]
            for central in self.centrals:
                central.start()
            for central in self.centrals:       # the daemon's first session then goes to the primary
                if not central.wait_serving(CENTRAL_START_S):
                    log.warning("demo: central %s is not serving yet; see %s", central.name, central.log_file)
        avaya_port = free_port()
        self.traffic = Traffic(self.workdir, avaya_port, self.calls_per_minute)
        config = load_config(write_config(self.workdir, avaya_port, self.traffic, self.centrals, pki))
        self.daemon = Daemon(config)
        self.started = time.monotonic()
        return self

    def start_traffic(self, loop: asyncio.AbstractEventLoop) -> None:
        """Once the daemon is ready: calls start flowing, and agents may dial out through it."""
        daemon = self.daemon
        self.traffic.dial = lambda line, number: loop.call_soon_threadsafe(daemon.dial, line, number)
        self.traffic.start()

    def check_centrals(self) -> None:
        for central in self.centrals:
            central.check(RESTART_AFTER_S)

    def screen(self):
        from appliance.demo.screen import render_screen
        return render_screen(self.daemon.status(), self.centrals, self.workdir,
                             time.monotonic() - self.started)

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
        for central in self.centrals:
            central.stop()


def run_demo(args) -> int:
    from appliance.demo.screen import failover_command, where_files_are
    from appliance.ops.logsetup import setup_logging
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="appliance-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    plain = args.plain or not sys.stdout.isatty()
    setup_logging("info")
    handler = logging.FileHandler(workdir / "demo.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not plain:
        for h in list(root.handlers):
            root.removeHandler(h)
    root.addHandler(handler)

    demo = Demo(workdir, calls_per_minute=args.calls_per_minute, with_central=not args.no_central)
    print(f"appliance demo\n{where_files_are(workdir)}", flush=True)
    if not args.no_central:
        print(f"Try a failover: {failover_command(workdir / 'central-primary.pid')}", flush=True)
    if plain:
        why = "" if args.plain else " (stdout is not a terminal)"
        print(f"Status lines every 2 s{why}; Ctrl-C stops the demo", flush=True)

    async def main() -> None:
        daemon = demo.daemon
        task = asyncio.create_task(daemon.run(), name="daemon")
        await daemon.wait_ready()
        loop = asyncio.get_running_loop()
        demo.start_traffic(loop)
        # Ctrl-C, kill, and the terminal closing (SIGHUP, which `appliance run` takes as "reload")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, daemon.stop)
        deadline = demo.started + args.duration if args.duration else None
        if plain:
            while not task.done() and (deadline is None or time.monotonic() < deadline):
                demo.check_centrals()
                print(daemon.status_line(), flush=True)
                await asyncio.wait({task}, timeout=2.0)
        else:
            from rich.live import Live
            demo.check_centrals()
            with Live(demo.screen(), refresh_per_second=2, screen=False) as live:
                while not task.done() and (deadline is None or time.monotonic() < deadline):
                    await asyncio.wait({task}, timeout=0.5)
                    demo.check_centrals()
                    live.update(demo.screen())
        daemon.stop()
        await task

    try:
        demo.start()
        asyncio.run(main())
    finally:
        demo.stop()
    st = demo.daemon.status() if demo.daemon is not None else {"records_durable": 0}
    print(f"demo stopped: {st['records_durable']} records stored in {workdir / 'data'}; "
          f"config, logs and PKI kept in {workdir}", flush=True)
    return 0
