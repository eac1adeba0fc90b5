"""The daemon: wires devices -> call tracker -> store writer -> sync on one asyncio loop."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.calls.tracker import CallTracker, DeviceInfo
from appliance.config.schema import Config, LineConfig, PbxConfig
from appliance.devices.runner import Backoff, SerialDeviceRunner, TcpFeedRunner
from appliance.ingest import Ingest, iso as _iso, utc_now as _utc_now
from appliance.stats.queue_stats import QueueStats
from appliance.store.store import Store
from appliance.store.writer import StoreWriter

log = logging.getLogger("appliance.daemon")


def _zone(name: str):
    return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo


class Daemon:
    """One per site. `await run()` until `stop()`; `status()` for the CLI, demo and metrics."""

    def __init__(self, config: Config, *, notifier=None):
        self.config = config
        self.site_id = config.site.id
        self.notifier = notifier
        self.writer: StoreWriter | None = None
        ring_timeout = max((line.ring_timeout for line in config.line), default=8.0)
        self.tracker = CallTracker(self.site_id, ring_timeout_s=ring_timeout)
        self.queue_stats = QueueStats(self.tracker)
        self.device_info: dict[str, DeviceInfo] = {}
        self.serial_runners: dict[str, SerialDeviceRunner] = {}
        self.tcp_runners: dict[str, TcpFeedRunner] = {}
        self.sync = None
        self.started_at = time.monotonic()
        self.ingest: Ingest | None = None
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._loop_progress = time.monotonic()
        self.last_selftest: dict | None = None
        self._selftest_reading = False
        self.control = None
        self._metrics = None
        self._background: list[asyncio.Task] = []

    # ---- lifecycle --------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        # Open once with the integrity check (and migrations); the writer and readers open their own.
        with Store(cfg.site.data_dir, site_id=self.site_id) as checked:
            if checked.recovered_from:
                log.error("database was corrupt: moved aside to %s and started a new one; "
                          "the old file is kept for inspection", checked.recovered_from)
        data_dir, site_id = cfg.site.data_dir, self.site_id
        # A bounded queue keeps RSS flat: past it the daemon pauses device input (backpressure).
        self.writer = StoreWriter(lambda: Store(data_dir, site_id=site_id, check=False),
                                  max_pending=20_000, max_batch=5_000)
        self.ingest = Ingest(self.tracker, self.queue_stats, self.writer, loop=self._loop,
                             device_info=self.device_info, pause_inputs=self._set_paused,
                             count_error=self._count_error, on_durable=self._durable)
        self._install_signals()
        tasks: list[asyncio.Task] = []
        try:
            await self._start_devices()
            await self._start_sync()
            await self._start_control()
            self._start_metrics()
            self._ready.set()
            if self.notifier:
                self.notifier.ready()
            log.info("site %s: running with %d device(s)", self.site_id,
                     len(self.serial_runners) + len(self.tcp_runners))
            tasks.append(asyncio.create_task(self._tick_loop(), name="tick"))
            watchdog = self._make_watchdog()
            if watchdog is not None:
                tasks.append(asyncio.create_task(watchdog.run(), name="watchdog"))
            await self._stop.wait()
        finally:
            for task in tasks + self._background:
                task.cancel()
            await self._shutdown()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def _install_signals(self) -> None:
        handlers = {signal.SIGTERM: self._stop.set, signal.SIGINT: self._stop.set, signal.SIGHUP: self._reload}
        for sig, handler in handlers.items():
            try:
                self._loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests, demo)

    def _reload(self) -> None:
        """SIGHUP: re-read the config. The log level applies at once; anything else needs a restart
        (devices hold ports and the store holds the data dir), and the log says which sections."""
        from appliance.config.schema import ConfigError, load_config
        if self.notifier:
            self.notifier.reloading()
        try:
            new = load_config(self.config.source_path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
        else:
            logging.getLogger().setLevel(new.log.level.upper())
            changed = [f.name for f in dataclasses.fields(new)
                       if f.name not in ("log", "source_path") and getattr(new, f.name) != getattr(self.config, f.name)]
            if changed:
                log.warning("reload: log level applied; changes to [%s] take effect after a restart "
                            "(systemctl restart appliance)", "], [".join(changed))
            else:
                log.info("reload: configuration re-read, log level %s", new.log.level)
        if self.notifier:
            self.notifier.ready()

    async def _start_control(self) -> None:
        from appliance.ops.control import ControlServer
        path = self.config.control_socket
        self.control = ControlServer(path, {"status": self.status})
        try:
            await self.control.start()
        except (OSError, RuntimeError) as exc:
            log.error("control socket %s unavailable (`appliance status` will not work): %s", path, exc)
            self.control = None

    def _start_metrics(self) -> None:
        self._metrics = None
        listen = self.config.metrics.listen
        if not listen:
            return
        from appliance.ops.metrics import start_metrics
        try:
            self._metrics = start_metrics(listen, self.status)
        except OSError as exc:
            log.error("metrics endpoint %s unavailable: %s", listen, exc)

    def _make_watchdog(self):
        """Pings WATCHDOG=1 only while the loop, the store writer and the sync make progress."""
        if self.notifier is None or not self.notifier.watchdog_interval():
            return None
        from appliance.ops.watchdog import Watchdog
        components = {"event-loop": lambda: self._loop_progress,
                      "store-writer": lambda: self.writer.last_progress}
        if self.sync is not None:
            components["sync"] = lambda: self.sync.last_progress
        stall = max(self.notifier.watchdog_interval() / 2, 3.0)
        return Watchdog(self.notifier, components, max_stall_s=stall)

    async def _shutdown(self) -> None:
        log.info("stopping: closing devices, flushing the store")
        if self.notifier:
            self.notifier.stopping()
        for runner in self.serial_runners.values():
            runner.close()
        for runner in self.tcp_runners.values():
            await runner.close()
        if getattr(self, "control", None) is not None:
            await self.control.close()
        if getattr(self, "_metrics", None):
            server, thread = self._metrics
            server.shutdown()
            server.server_close()
            thread.join(5)
        if self.sync is not None:
            await self.sync.stop()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close, 20.0)
        log.info("stopped")

    # ---- devices ---------------------------------------------------------------------

    async def _start_devices(self) -> None:
        cfg = self.config
        for pbx in cfg.pbx:
            tz = _zone(pbx.timezone or cfg.site.timezone)
            options = None
            if pbx.format == "panasonic":
                from firmware_bridge.smdr.panasonic import PanasonicOptions, panasonic_end_time
                options = PanasonicOptions(date_order=pbx.date_order, clock=pbx.clock,
                                           cost_column={"auto": "auto", "yes": True, "no": False}[pbx.cost_column])
                to_dt = (lambda opts: (lambda rec: panasonic_end_time(rec, opts)))(options)
            else:
                to_dt = None
            self.device_info[pbx.name] = DeviceInfo(name=pbx.name, kind=pbx.format, queue=pbx.queue,
                                                    tz=tz, to_datetime=to_dt)
            if pbx.format == "avaya-ipo":
                from firmware_bridge.smdr.avaya import AvayaCodec
                runner = TcpFeedRunner(pbx.name, pbx.format, pbx.listen, AvayaCodec, self._on_events)
                self.tcp_runners[pbx.name] = runner
                await self._listen(runner, Backoff(pbx.reconnect_delay, pbx.reconnect_delay_max))
                legs = await asyncio.to_thread(self._open_legs, pbx.name)
                if legs:
                    self.tracker.seed_open_legs(pbx.name, legs)
            else:
                self._add_serial(pbx, self._panasonic_factory(pbx, options))
        for line in cfg.line:
            self.device_info[line.name] = DeviceInfo(name=line.name, kind=line.kind, queue=line.queue,
                                                     tz=_zone(cfg.site.timezone))
            self.tracker.register(self.device_info[line.name])
            self._add_serial(line, self._line_factory(line))
        for runner in self.serial_runners.values():
            runner.start(self._loop)

    async def _listen(self, runner: TcpFeedRunner, backoff: Backoff, *, retrying: bool = False) -> None:
        """Bind the PBX listener; if the address is taken (or not ours), say so and keep trying
        in the background: the other devices start meanwhile."""
        while True:
            try:
                await runner.start()
                return
            except OSError as exc:
                delay = backoff.next()
                runner.state.last_error = f"cannot listen on {runner.state.target}: {exc.strerror or exc}"
                log.error("%s: %s; retrying in %.1fs", runner.state.name, runner.state.last_error, delay)
                if not retrying:
                    self._background.append(asyncio.create_task(
                        self._listen_later(runner, backoff, delay), name=f"listen-{runner.state.name}"))
                    return
                await asyncio.sleep(delay)

    async def _listen_later(self, runner: TcpFeedRunner, backoff: Backoff, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._listen(runner, backoff, retrying=True)

    def _open_legs(self, source: str) -> dict:
        """Leg counts of PBX calls still open (last leg not seen) in the last two days."""
        since = _iso(_utc_now() - timedelta(days=2))
        reader = Store(self.config.site.data_dir, site_id=self.site_id, check=False)
        try:
            return reader.open_pbx_legs(source, since)
        finally:
            reader.close()

    @staticmethod
    def _panasonic_factory(pbx: PbxConfig, options):
        from firmware_bridge.smdr.driver import PanasonicSerialDriver
        return lambda: PanasonicSerialDriver(pbx.name, pbx.port, baudrate=pbx.baudrate, bytesize=pbx.bytesize,
                                             parity=pbx.parity, stopbits=pbx.stopbits, options=options)

    @staticmethod
    def _line_factory(line: LineConfig):
        from firmware_bridge.at.driver import LineDriver
        return lambda: LineDriver(line.name, line.port, kind=line.kind, baudrate=line.baudrate)

    def _add_serial(self, dev: PbxConfig | LineConfig, factory) -> None:
        kind = dev.format if isinstance(dev, PbxConfig) else dev.kind
        self.serial_runners[dev.name] = SerialDeviceRunner(
            dev.name, kind, dev.port, factory, self._on_events,
            Backoff(dev.reconnect_delay, dev.reconnect_delay_max), on_down=self._device_down)

    def dial(self, line: str, number: str) -> bool:
        """Place an outbound call on a line (an agent's click-to-dial). False if the line is not ready.
        Call it on the loop thread; the result arrives as events like any other call."""
        runner = self.serial_runners.get(line)
        driver = runner.driver if runner is not None else None
        if driver is None or not getattr(driver, "ready", False) or not hasattr(driver, "dial"):
            return False
        driver.dial(number)
        return True

    def _device_down(self, name: str) -> None:
        records = self.tracker.device_down(name, _utc_now())
        if records:
            self.ingest.submit(records, [])

    # ---- events -> calls -> store ----------------------------------------------------

    def _on_events(self, name: str, events: list) -> None:
        self.ingest.on_events(name, events)

    def _set_paused(self, paused: bool) -> None:
        for runner in [*self.serial_runners.values(), *self.tcp_runners.values()]:
            runner.pause() if paused else runner.resume()

    def _count_error(self, name: str) -> None:
        runner = self.serial_runners.get(name) or self.tcp_runners.get(name)
        if runner is not None:
            runner.state.errors += 1

    def _durable(self, n: int) -> None:
        if self.sync is not None:
            self.sync.wake()

    @property
    def records_durable(self) -> int:
        return self.ingest.records_durable if self.ingest else 0

    async def _tick_loop(self) -> None:
        last_selftest_read = 0.0
        while True:
            await asyncio.sleep(0.5)
            self._loop_progress = time.monotonic()
            if self._loop_progress - last_selftest_read > 30 and not self._selftest_reading:
                last_selftest_read = self._loop_progress
                self._selftest_reading = True
                asyncio.create_task(self._refresh_selftest(), name="selftest-status")
            now = _utc_now()
            records = self.tracker.tick(now)
            if records:
                self.ingest.submit(records, [])
            mono = time.monotonic()
            for runner in self.serial_runners.values():
                runner.poll(mono)
            if self.notifier:
                self.notifier.status(self.status_line())

    async def _refresh_selftest(self) -> None:
        """Off the tick loop: a locked database must not look like a wedged event loop."""
        try:
            self.last_selftest = await asyncio.to_thread(self._read_last_selftest)
        except Exception as exc:
            log.debug("last self-test unavailable: %s", exc)
        finally:
            self._selftest_reading = False

    def _read_last_selftest(self) -> dict | None:
        reader = Store(self.config.site.data_dir, site_id=self.site_id, check=False)
        try:
            runs = reader.selftests(limit=1)
        finally:
            reader.close()
        if not runs:
            return None
        return {k: runs[0].get(k) for k in ("run_id", "started_at", "verdict")}

    # ---- sync -------------------------------------------------------------------------

    async def _start_sync(self) -> None:
        central = self.config.central
        if not central.endpoints:
            return
        from appliance.sync.client import SyncClient, SyncConfig
        sc = SyncConfig(endpoints=central.endpoints, ca_file=central.ca_file, cert_file=central.cert_file,
                        key_file=central.key_file, plaintext=central.plaintext, batch_size=central.batch_size,
                        max_in_flight_batches=central.max_in_flight_batches,
                        failback_after_s=central.failback_after, reconnect_delay_s=central.reconnect_delay,
                        reconnect_delay_max_s=central.reconnect_delay_max)
        data_dir, site_id = self.config.site.data_dir, self.site_id
        # The sync reads in id order and deletes by id: SQLite's default 2 MB page cache is enough.
        self.sync = SyncClient(sc, lambda: Store(data_dir, site_id=site_id, check=False, cache_kib=2048), site_id)
        asyncio.create_task(self.sync.run(), name="sync")

    # ---- status -----------------------------------------------------------------------

    def status(self) -> dict:
        now = time.monotonic()
        devices = [r.state.as_dict(now) for r in self.tcp_runners.values()]
        devices += [r.state.as_dict(now) for r in self.serial_runners.values()]
        for d in devices:
            runner = self.tcp_runners.get(d["name"])
            if runner is not None:
                d["connections"] = len(runner.peers)
        out = {
            "site_id": self.site_id,
            "uptime_s": round(now - self.started_at, 1),
            "devices": devices,
            "calls_in_progress": self.tracker.in_progress() if hasattr(self.tracker, "in_progress") else None,
            "calls_finished": self.ingest.calls_finished if self.ingest else 0,
            "records_durable": self.records_durable,
            "protocol_errors": self.ingest.protocol_errors if self.ingest else 0,
            "store_queue": self.writer.queue_depth if self.writer else 0,
            "store_healthy": self.writer.healthy if self.writer else None,
            "input_pauses": self.ingest.input_pauses if self.ingest else 0,
            "last_selftest": self.last_selftest,
            "queues": {name: dataclasses.asdict(snap)
                       for name, snap in self.queue_stats.snapshot(_utc_now()).items()},
        }
        if self.sync is not None:
            out["central"] = self.sync.status()
        return out

    def status_line(self) -> str:
        st = self.status()
        up = sum(1 for d in st["devices"] if d["state"] == "UP")
        line = f"{up}/{len(st['devices'])} devices up, {st['records_durable']} records stored"
        central = st.get("central")
        if central:
            line += f", backlog {central.get('backlog')}, central {central.get('active_endpoint') or 'none'}"
        return line
