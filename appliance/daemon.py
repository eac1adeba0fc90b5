"""The daemon: wires devices -> call tracker -> store writer -> sync on one asyncio loop."""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime, timedelta
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from firmware_bridge.registry import kind as device_kind

from appliance.calls import CallTracker, DeviceInfo
from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.common.time import iso_utc, utc_now
from appliance.config import Config, DeviceEntry
from appliance.devices import DeviceRunner, InputGate
from appliance.ingest import Ingest
from appliance.desk import Desk
from appliance.floor import Floor
from appliance.status import refresh_last_selftest, site_status, status_line
from appliance.store import Store, StoreError, StoreWriter
from appliance.store.keeper import StoreKeeper
from appliance.ops.fdstore import FdStore
from appliance.store.retention import RetentionSchedule
from appliance.common.tasks import TaskGroup

log = logging.getLogger("appliance.daemon")


def _zone(name: str):
    return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo


class Daemon:
    """One per site. `await run()` until `stop()`; `status()` for the CLI, demo and metrics."""

    def __init__(self, config: Config, *, notifier=None, clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], datetime] = utc_now, stored_fds: Sequence[tuple[str, int]] = ()):
        self.config = config
        self.site_id = config.site.id
        self.notifier = notifier
        self.fdstore = FdStore(notifier, stored_fds)   # descriptors kept across restarts (ops/fdstore.py)
        self._clock, self._wallclock = clock, wallclock
        self.writer: StoreWriter | None = None
        self.tracker = CallTracker(self.site_id)
        self.device_info: dict[str, DeviceInfo] = {}
        self.runners: dict[str, DeviceRunner] = {}
        self.floor = Floor(config, self.tracker, self.device_info, self.runners, tz=_zone(config.site.timezone),
                           clock=clock, wallclock=wallclock)
        self.desk = Desk(config, line_driver=self._ready_line, store_writes=lambda fn: self.writer.call(fn),
                         wallclock=wallclock, clock=clock)
        self.sync = None
        self.uploads = None
        self.retention = RetentionSchedule(config.store.cdr_retention_days, clock)
        self.started_at = clock()
        self.ingest: Ingest | None = None
        self.tasks = TaskGroup()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._loop_progress = clock()
        self.last_selftest: dict | None = None
        self._selftest_reading = False
        self.control = None
        self._metrics = None
        self.gate = InputGate(self._apply_input_pause)   # input flows while no reason holds it
        self.keeper: StoreKeeper | None = None

    # ---- lifecycle --------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        await self._open_store_or_degrade()
        # A bounded queue keeps RSS flat: past it the daemon pauses device input (backpressure).
        self.writer = StoreWriter(self._store, max_pending=cfg.store.max_pending, max_batch=cfg.store.max_batch,
                                  on_error=self.keeper.write_failed, serialize=self._record_bytes())
        self.keeper.attach(self.writer)
        self.ingest = Ingest(self.tracker, self.writer, loop=self._loop,
                             device_info=self.device_info, pause_inputs=self._set_paused,
                             count_error=self._count_error, on_durable=self._durable,
                             release=self._release, wallclock=self._wallclock,
                             on_records=self.floor.records_finished, finish=self.desk.finish)
        restored = await asyncio.to_thread(self._with_store, self.floor.restore, 0)
        if restored:
            log.info("queue statistics: %d record(s) of yesterday and today re-read from the store", restored)
        self._install_signals()
        try:
            await self._start_devices()
            self.desk.start(self._loop, self.floor, self._complete_records)
            self.floor.change_listeners.append(self.desk.changes)
            await self._recover_recorded_calls()
            self.floor.start(self._loop, self.tasks)
            self._start_sync()
            self._start_uploads()
            await self._start_control()
            self._start_metrics()
            self._ready.set()
            if self.notifier:
                self.notifier.ready()
            log.info("site %s: running with %d device(s)", self.site_id, len(self.runners))
            self.tasks.start(self._tick_loop(), "tick")
            watchdog = self._make_watchdog()
            if watchdog is not None:
                self.tasks.start(watchdog.run(), "watchdog")
            await self._stop.wait()
        finally:
            await self.tasks.cancel_all()
            await self._shutdown()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def _store(self, **kw) -> Store:
        return self.keeper.store(**kw)

    async def _open_store_or_degrade(self) -> None:
        """Take the data dir (a second daemon stops here) and open the store; a full or unusable
        disk degrades the daemon (input held, control, metrics, READY=1 up) instead of stopping it."""
        self.keeper = StoreKeeper(self.config.site.data_dir, self.site_id,
                                  ballast_bytes=self.config.store.ballast_mb << 20,
                                  hold_input=lambda on: self.gate.hold("store", on))
        await self.keeper.start(self.tasks)

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
        from appliance.config import ConfigError, load_config
        if self.notifier:
            self.notifier.reloading()
        try:
            new = load_config(self.config.source_path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
        else:
            from appliance.config.diff import changed_sections
            logging.getLogger().setLevel(new.log.level.upper())
            changed = changed_sections(self.config, new)
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
        self.control = ControlServer(path, {"status": self.status, **self.keeper.commands(),
                                            **self.desk.commands()})
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
        for runner in self.runners.values():
            runner.close()
        await self.desk.close()
        if self.floor.agents is not None:
            self.floor.agents.close()
        await self.floor.close()
        if self.control is not None:
            await self.control.close()
        if self._metrics:
            server, thread = self._metrics
            server.shutdown()
            server.server_close()
            thread.join(5)
        for client in (self.sync, self.uploads):
            if client is not None:
                await client.stop()
        if self.writer is not None:
            await self.keeper.finish(self.writer, self.ingest.hand_over_held if self.ingest else None)
        if self.keeper is not None:
            self.keeper.stop()
        log.info("stopped")

    # ---- devices ---------------------------------------------------------------------

    async def _start_devices(self) -> None:
        for entry in self.config.devices:
            kind = device_kind(entry.kind)
            if kind.role not in ("line", "smdr"):
                continue          # the stages of other roles start their own devices
            self.device_info[entry.name] = info = self._device_info(entry)
            if kind.role == "line":
                self.tracker.register(info)
            else:
                legs = await asyncio.to_thread(self._open_legs, entry.name)
                if legs:
                    self.tracker.seed_open_legs(entry.name, legs)
            self._add_runner(entry, self._on_events, on_down=self._device_down)
        self._keep_descriptors()
        for runner in self.runners.values():
            if self.gate.held:
                runner.pause()       # degraded from the start: the devices are not read
            runner.start(self._loop)

    def _device_info(self, entry: DeviceEntry) -> DeviceInfo:
        """What the call tracker needs to know of a line or a PBX feed, from its settings."""
        s = entry.settings
        zone = _zone(getattr(s, "timezone", "") or self.config.site.timezone)
        leg_reader = getattr(s, "leg_reader", None)
        return DeviceInfo(name=s.name, kind=entry.kind, queue=getattr(s, "queue", ""), tz=zone,
                          to_leg=leg_reader() if leg_reader else None,
                          ring_timeout_s=getattr(s, "ring_timeout", None))

    def _add_runner(self, entry: DeviceEntry, sink, **callbacks) -> DeviceRunner:
        kind = device_kind(entry.kind)
        driver = kind.load("driver").from_settings(entry.settings)
        policy = BackoffPolicy(entry.settings.reconnect_delay, entry.settings.reconnect_delay_max)
        runner = DeviceRunner(kind.name, driver, sink, Backoff(policy), clock=self._clock, **callbacks)
        self.runners[entry.name] = runner
        return runner

    def _keep_descriptors(self) -> None:
        """systemd's fd store: each device takes back what was kept for it and keeps what it opens."""
        for name, runner in self.runners.items():
            runner.keep_descriptors(self.fdstore.take(name), self.fdstore.update)
        self.fdstore.discard_unclaimed()

    def _open_legs(self, source: str) -> dict:
        """Leg counts of PBX calls still open (last leg not seen) in the last two days."""
        since = iso_utc(self._wallclock() - timedelta(days=2), 6)
        return self._with_store(lambda reader: reader.open_pbx_legs(source, since), {})

    def dial(self, line: str, number: str) -> bool:
        """Place an outbound call on a line (an agent's click-to-dial). False if the line is not ready.
        Call it on the loop thread; the result arrives as events like any other call."""
        runner = self.runners.get(line)
        if runner is None or self.device_info.get(line) is None or self.device_info[line].role != "line":
            return False
        if not runner.driver.ready:
            return False
        runner.driver.dial(number)
        return True

    def _on_events(self, name: str, events: list, mark: object) -> None:
        self.ingest.on_events(name, events, mark)
        if self.device_info[name].role == "line":
            self.floor.calls_changed()
            self.desk.line_events(name, events)

    def _complete_records(self, records: list, after=None) -> None:
        """Records the desk finished after their recording closed: stored as they are."""
        self.ingest.submit(records, [], complete=True, after=after)

    async def _recover_recorded_calls(self) -> None:
        records, keys = await asyncio.to_thread(self._with_store, self.desk.recover, ([], []))
        if records:
            self.ingest.submit(records, [], complete=True,
                               after=lambda: self.tasks.start(asyncio.to_thread(self.desk.forget, keys),
                                                              "forget-open-calls"))

    def _ready_line(self, name: str):
        runner = self.runners.get(name)
        return runner.driver if runner is not None and runner.driver.ready else None

    def _device_down(self, name: str) -> None:
        records = self.tracker.device_down(name, self._wallclock())
        if records:
            self.ingest.submit(records, [])
            self.floor.calls_changed()

    def _release(self, name: str, mark: object) -> None:
        runner = self.runners.get(name)
        if runner is not None:
            runner.release(mark)

    # ---- events -> calls -> store ----------------------------------------------------

    def _set_paused(self, paused: bool) -> None:
        self.gate.hold("store-behind", paused)

    def _apply_input_pause(self, paused: bool) -> None:
        for name in self.device_info:
            runner = self.runners[name]
            runner.pause() if paused else runner.resume()

    def _count_error(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is not None:
            runner.state.errors += 1

    def _durable(self, n: int) -> None:
        if self.sync is not None:
            self.sync.wake()

    @property
    def records_durable(self) -> int:
        return self.ingest.records_durable if self.ingest else 0

    async def _tick_loop(self) -> None:
        last_selftest_read = float("-inf")
        while True:
            await asyncio.sleep(0.5)
            self._loop_progress = now = self._clock()
            if now - last_selftest_read > 30 and not self._selftest_reading:
                last_selftest_read = now
                self._selftest_reading = True
                self.tasks.start(refresh_last_selftest(self), "selftest-status")
            records = self.tracker.tick(self._wallclock())
            if records:
                self.ingest.submit(records, [])
            self.ingest.tick()
            for runner in self.runners.values():
                runner.poll(now)
            self.floor.tick(now)
            self.desk.tick()
            if self.retention.take():
                self.tasks.start(self.retention.run_off_loop(self.writer.call, self._wallclock().timestamp(),
                                                             stopping=self._stop.is_set), "retention")
            if self.notifier:
                self.notifier.status(self.status_line())

    def _with_store(self, fn, unavailable=None):
        """fn(a store of our own), on this thread; closed afterwards. `unavailable` while the store
        is not open (degraded from the start)."""
        try:
            reader = self._store()
        except StoreError as exc:
            log.warning("store not open yet, not read (%s): %s", getattr(fn, "__qualname__", fn), exc)
            return unavailable
        try:
            return fn(reader)
        finally:
            reader.close()

    # ---- sync -------------------------------------------------------------------------

    def _record_bytes(self):
        """With a central: each record is encoded for it once, by the store writer (cdr.payload)."""
        if not self.config.central.endpoints:
            return None
        from appliance.sync.convert import record_bytes
        return record_bytes

    def _start_sync(self) -> None:
        if not self.config.central.endpoints:
            return
        from appliance.sync import SyncClient
        # The sync reads in id order: SQLite's default 2 MB page cache is enough. Its acks are
        # written by the store writer, the one connection that writes records.
        self.sync = SyncClient(self.config.central, lambda: self._store(cache_kib=2048), self.site_id,
                               store_writes=self.writer.call)
        self.tasks.start(self.sync.run(), "sync")

    def _start_uploads(self) -> None:
        """Recordings go to the same centrals as the records, on a channel and threads of their own."""
        if not self.config.central.endpoints:
            return
        from appliance.sync.uploads import UploadClient
        self.uploads = UploadClient(self.config.central, lambda: self._store(cache_kib=2048), self.site_id,
                                    self.desk.recordings,
                                    keep_after_upload_s=self.config.recording.keep_after_upload_s,
                                    chunk_bytes=self.config.recording.upload_chunk_kib * 1024,
                                    bytes_per_s=self.config.recording.upload_rate_kib_s * 1024,
                                    store_writes=self.writer.call)
        self.tasks.start(self.uploads.run(), "uploads")

    # ---- status -----------------------------------------------------------------------

    def status(self) -> dict:
        return site_status(self)

    def status_line(self) -> str:
        return status_line(self.status(), self.keeper.status_words() if self.keeper else "")
