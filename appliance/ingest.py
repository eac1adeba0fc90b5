"""The spine's first half at run time: device events -> call tracker -> store writer, with backpressure."""
from __future__ import annotations

import asyncio
import collections
import logging
from datetime import datetime, timezone
from typing import Callable

from firmware_bridge.events import ProtocolError

from appliance.calls.tracker import CallTracker, DeviceInfo
from appliance.ops.logsetup import BurstLimiter
from appliance.ops.masking import mask_text
from appliance.stats.queue_stats import QueueStats
from appliance.store.store import AddResult, RejectedRaw
from appliance.store.writer import StoreWriter

log = logging.getLogger("appliance.daemon")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ingest:
    """Turns each device's events into CDRs and unparseable input into rejected_raw rows, and hands
    both to the store writer. When the writer's queue is full (slow or failing disk) the batch is
    held, device input is paused through `pause_inputs(True)` (the ports' buffers and TCP flow
    control hold the rest) and resumed once the writer has room: nothing is dropped and memory
    stays bounded. Runs on the event loop; only `_durable_from_thread` is called from the writer.
    """

    def __init__(self, tracker: CallTracker, queue_stats: QueueStats, writer: StoreWriter, *,
                 loop: asyncio.AbstractEventLoop, device_info: dict[str, DeviceInfo],
                 pause_inputs: Callable[[bool], None], count_error: Callable[[str], None],
                 on_durable: Callable[[int], None]):
        self.tracker, self.queue_stats, self.writer = tracker, queue_stats, writer
        self._loop = loop
        self._device_info = device_info
        self._pause_inputs = pause_inputs
        self._count_error = count_error
        self._on_durable = on_durable
        self._bursts = BurstLimiter()
        self._held: collections.deque[tuple[list, list]] = collections.deque()
        self.calls_finished = 0
        self.records_durable = 0
        self.protocol_errors = 0
        self.input_pauses = 0          # times device input was paused for the store

    def on_events(self, name: str, events: list) -> None:
        info = self._device_info[name]
        now = utc_now()
        records, rejected = [], []
        for event in events:
            if isinstance(event, ProtocolError):
                rejected.append(RejectedRaw(source=name, reason=event.reason, raw=event.raw,
                                            received_at=iso(now)))
                self._protocol_error(name, event)
                continue
            records.extend(self.tracker.handle(info, event, now))
        if records or rejected:
            self.submit(records, rejected)

    def _protocol_error(self, name: str, event: ProtocolError) -> None:
        self.protocol_errors += 1
        self._count_error(name)
        show, suppressed = self._bursts.hit(name)
        if show:
            excerpt = mask_text(event.raw[:60].decode("latin-1", "replace"))
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            log.warning("%s: unparseable input kept in rejected_raw: %s: %r%s", name, event.reason, excerpt, more)

    def submit(self, records: list, rejected: list) -> None:
        self.calls_finished += len(records)
        if records:
            self.queue_stats.record(records)
        if self._held or not self.writer.submit(records, rejected, on_durable=self._durable_from_thread,
                                                timeout=0):
            self._held.append((records, rejected))
            if len(self._held) == 1:
                self.input_pauses += 1
                show, suppressed = self._bursts.hit("store-behind")
                if show:
                    more = f"; paused {suppressed} more time(s) since the last report" if suppressed else ""
                    log.warning("store is behind (%d records waiting): pausing device input until it "
                                "catches up%s", self.writer.queue_depth, more)
                self._pause_inputs(True)
                self._loop.call_later(0.1, self._release_held)

    def _release_held(self) -> None:
        while self._held:
            records, rejected = self._held[0]
            if not self.writer.submit(records, rejected, on_durable=self._durable_from_thread, timeout=0):
                self._loop.call_later(0.1, self._release_held)
                return
            self._held.popleft()
        log.debug("store caught up: resuming device input")
        self._pause_inputs(False)

    def _durable_from_thread(self, result: AddResult) -> None:
        n = len(result.inserted)
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._durable, n)

    def _durable(self, n: int) -> None:
        self.records_durable += n
        if n:
            self._on_durable(n)
