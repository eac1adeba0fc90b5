"""The daemon: wires devices -> call tracker -> store writer -> sync on one asyncio loop."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from firmware_bridge.events import ProtocolError

from .calls import CallTracker, DeviceInfo
from .config import Config, LineConfig, PbxConfig
from .devices import Backoff, SerialDeviceRunner, TcpFeedRunner
from .logsetup import BurstLimiter
from .masking import mask_text
from .queue_stats import QueueStats
from .store import RejectedRaw, Store, StoreWriter

log = logging.getLogger("appliance.daemon")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _zone(name: str):
    return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo


class Daemon:
    """One per site. `await run()` until `stop()`; `status()` for the CLI, demo and metrics."""

    def __init__(self, config: Config, *, notifier=None):
        self.config = config
        self.site_id = config.site.id
        self.notifier = notifier
        self.store: Store | None = None
        self.writer: StoreWriter | None = None
        ring_timeout = max((line.ring_timeout for line in config.line), default=8.0)
        self.tracker = CallTracker(self.site_id, ring_timeout_s=ring_timeout)
        self.queue_stats = QueueStats(self.tracker)
        self.device_info: dict[str, DeviceInfo] = {}
        self.serial_runners: dict[str, SerialDeviceRunner] = {}
        self.tcp_runners: dict[str, TcpFeedRunner] = {}
        self.sync = None
        self.started_at = time.monotonic()
        self.calls_finished = 0
        self.records_durable = 0
        self.protocol_errors = 0
        self._bursts = BurstLimiter()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()

    # ---- lifecycle --------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        self.store = Store(cfg.site.data_dir, site_id=self.site_id)
        if getattr(self.store, "recovered_from", None):
            log.error("database was corrupt: moved aside to %s and started a new one; "
                      "the old file is kept for inspection", self.store.recovered_from)
        data_dir, site_id = cfg.site.data_dir, self.site_id
        self.writer = StoreWriter(lambda: Store(data_dir, site_id=site_id, check=False))
        self._install_signals()
        try:
            await self._start_devices()
            await self._start_sync()
            self._ready.set()
            if self.notifier:
                self.notifier.ready()
            log.info("site %s: running with %d device(s)", self.site_id,
                     len(self.serial_runners) + len(self.tcp_runners))
            ticker = asyncio.create_task(self._tick_loop(), name="tick")
            await self._stop.wait()
            ticker.cancel()
        finally:
            await self._shutdown()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._loop.add_signal_handler(sig, self._stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests, demo)

    async def _shutdown(self) -> None:
        log.info("stopping: closing devices, flushing the store")
        if self.notifier:
            self.notifier.stopping()
        for runner in self.serial_runners.values():
            runner.close()
        for runner in self.tcp_runners.values():
            await runner.close()
        if self.sync is not None:
            await self.sync.stop()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close, 20.0)
        if self.store is not None:
            self.store.close()
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
                await runner.start()
                self.tcp_runners[pbx.name] = runner
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

    def _open_legs(self, source: str) -> dict:
        reader = Store(self.config.site.data_dir, site_id=self.site_id, check=False)
        try:
            return reader.open_pbx_legs(source, "")
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

    def _device_down(self, name: str) -> None:
        records = self.tracker.device_down(name, _utc_now())
        if records:
            self._submit(records, [])

    # ---- events -> calls -> store ----------------------------------------------------

    def _on_events(self, name: str, events: list) -> None:
        info = self.device_info[name]
        now = _utc_now()
        records, rejected = [], []
        for event in events:
            if isinstance(event, ProtocolError):
                rejected.append(RejectedRaw(source=name, reason=event.reason, raw=event.raw,
                                            received_at=_iso(now)))
                self._protocol_error(name, event)
                continue
            records.extend(self.tracker.handle(info, event, now))
        if records or rejected:
            self._submit(records, rejected)

    def _protocol_error(self, name: str, event: ProtocolError) -> None:
        self.protocol_errors += 1
        runner = self.serial_runners.get(name) or self.tcp_runners.get(name)
        if runner is not None:
            runner.state.errors += 1
        show, suppressed = self._bursts.hit(name)
        if show:
            excerpt = mask_text(event.raw[:60].decode("latin-1", "replace"))
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            log.warning("%s: unparseable input kept in rejected_raw: %s: %r%s", name, event.reason, excerpt, more)

    def _submit(self, records: list, rejected: list) -> None:
        self.calls_finished += len(records)
        if records:
            self.queue_stats.record(records)
        self.writer.submit(records, rejected, on_durable=self._durable_from_thread)

    def _durable_from_thread(self, result) -> None:
        n = len(result.inserted)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._durable, n)

    def _durable(self, n: int) -> None:
        self.records_durable += n
        if self.sync is not None and n:
            self.sync.wake()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = _utc_now()
            records = self.tracker.tick(now)
            if records:
                self._submit(records, [])
            mono = time.monotonic()
            for runner in self.serial_runners.values():
                runner.poll(mono)
            if self.notifier:
                self.notifier.status(self.status_line())

    # ---- sync -------------------------------------------------------------------------

    async def _start_sync(self) -> None:
        central = self.config.central
        if not central.endpoints:
            return
        from .sync import SyncClient, SyncConfig
        sc = SyncConfig(endpoints=central.endpoints, ca_file=central.ca_file, cert_file=central.cert_file,
                        key_file=central.key_file, plaintext=central.plaintext, batch_size=central.batch_size,
                        max_in_flight_batches=central.max_in_flight_batches,
                        failback_after_s=central.failback_after, reconnect_delay_s=central.reconnect_delay,
                        reconnect_delay_max_s=central.reconnect_delay_max)
        data_dir, site_id = self.config.site.data_dir, self.site_id
        self.sync = SyncClient(sc, lambda: Store(data_dir, site_id=site_id, check=False), site_id)
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
            "calls_finished": self.calls_finished,
            "records_durable": self.records_durable,
            "protocol_errors": self.protocol_errors,
            "store_queue": self.writer.queue_depth if self.writer else 0,
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
