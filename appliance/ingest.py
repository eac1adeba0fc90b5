"""The spine's first half at run time: device events -> call tracker -> store writer, with backpressure."""
from __future__ import annotations

import asyncio
import collections
import logging
from datetime import datetime
from typing import Callable

from firmware_bridge.events import ProtocolError

from appliance.calls import CallTracker, DeviceInfo
from appliance.common.bursts import BurstLimiter
from appliance.common.time import iso_utc, utc_now
from appliance.ops.masking import mask_text
from appliance.store import AddResult, RejectedRaw, StoreWriter

log = logging.getLogger("appliance.daemon")

Release = Callable[[str, object], None]      # (device name, the driver's mark): those bytes are durable


class Ingest:
    """Turns each device's events into CDRs and unparseable input into rejected_raw rows, and hands
    both to the store writer. When the writer's queue is full (slow or failing disk) the batch is
    held, device input is paused through `pause_inputs(True)` (the ports' buffers and TCP flow
    control hold the rest) and resumed once the writer has room: nothing is dropped and memory
    stays bounded. A device's mark is released once what was made of its events is durable, so a
    driver that reads by peeking keeps those bytes in the kernel until then.

    Unparseable input is logged here and only here: the first line of a burst at once, and how
    many more followed when the burst's window ends (on `tick()`, even if no more input comes).
    Runs on the event loop; only `_durable_from_thread` is called from the writer.
    """

    def __init__(self, tracker: CallTracker, writer: StoreWriter, *,
                 loop: asyncio.AbstractEventLoop, device_info: dict[str, DeviceInfo],
                 pause_inputs: Callable[[bool], None], count_error: Callable[[str], None],
                 on_durable: Callable[[int], None], release: Release = lambda name, mark: None,
                 wallclock: Callable[[], datetime] = utc_now, bursts: BurstLimiter | None = None,
                 on_records: Callable[[list], None] = lambda records: None,
                 finish: Callable[[list], list] = lambda records: records):
        self.tracker, self.writer = tracker, writer
        self._on_records = on_records          # queue statistics and live events hear them
        self._finish = finish                  # the agents complete a line call's record (agent, mutes)
        self._loop = loop
        self._device_info = device_info
        self._pause_inputs = pause_inputs
        self._count_error = count_error
        self._on_durable = on_durable
        self._release = release
        self._wallclock = wallclock
        self._bursts = bursts or BurstLimiter()
        self._held: collections.deque[tuple[list, list, tuple]] = collections.deque()
        self._marks: dict[str, collections.deque[list]] = {}   # per device: [mark, durable?] in order
        self.calls_finished = 0
        self.records_durable = 0
        self.protocol_errors = 0
        self.input_pauses = 0          # times device input was paused for the store

    def on_events(self, name: str, events: list, mark: object = None) -> None:
        info = self._device_info[name]
        now = self._wallclock()
        rejected = []
        token = self._track(name, mark)
        if any(type(event) is ProtocolError for event in events):
            good = []
            for event in events:
                if type(event) is ProtocolError:
                    rejected.append(RejectedRaw(source=name, reason=event.reason, raw=event.raw,
                                                received_at=iso_utc(now, 6)))
                    self._protocol_error(name, event)
                else:
                    good.append(event)
            events = good
        records = self.tracker.handle_all(info, events, now)
        if records or rejected:
            self.submit(records, rejected, token)
        elif token is not None:
            self._ready(token)

    def _track(self, name: str, mark: object) -> tuple | None:
        """Queue a device's mark; it is released once it and every mark before it are durable."""
        if mark is None:
            return None
        entry = [mark, False]
        self._marks.setdefault(name, collections.deque()).append(entry)
        return (name, entry)

    def _ready(self, token: tuple) -> None:
        name, entry = token
        entry[1] = True
        queue = self._marks[name]
        last = None
        while queue and queue[0][1]:
            last = queue.popleft()[0]
        if last is not None:
            self._release(name, last)

    def _protocol_error(self, name: str, event: ProtocolError) -> None:
        self.protocol_errors += 1
        self._count_error(name)
        show, suppressed = self._bursts.hit(name)
        if show:
            excerpt = mask_text(event.raw[:60].decode("latin-1", "replace"))
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            log.warning("%s: unparseable input kept in rejected_raw: %s: %r%s", name, event.reason, excerpt, more)

    def tick(self) -> None:
        """About once a second: the summary line of every burst of bad input that has ended."""
        for key, suppressed in self._bursts.due():
            if key == "store-behind":
                log.warning("store was behind %d more time(s) in the last %g s: device input paused each "
                            "time until it caught up", suppressed, self._bursts.window_s)
            else:
                log.warning("%s: %d more unparseable input line(s) kept in rejected_raw in the last %g s",
                            key, suppressed, self._bursts.window_s)

    def submit(self, records: list, rejected: list, mark: tuple | None = None, *, complete: bool = False,
               after: Callable[[], None] | None = None) -> None:
        """Records (and unparseable input) to the store. `complete`: the agents and the recorder
        already finished these records. `after()` runs on the loop once they are durable."""
        if records and not complete:
            records = self._finish(records)
        self.calls_finished += len(records)
        if records:
            self._on_records(records)
        marks = ((mark,) if mark is not None else ()) + ((after,) if after is not None else ())
        if not records and not rejected and not marks:
            return
        if self._held or not self._try_submit(records, rejected, marks):
            self._held.append((records, rejected, marks))
            if len(self._held) == 1:
                self.input_pauses += 1
                show, suppressed = self._bursts.hit("store-behind")
                if show:
                    log.warning("store is behind (%d records waiting): pausing device input until it "
                                "catches up", self.writer.queue_depth)
                self._pause_inputs(True)
                self._loop.call_later(0.1, self._release_held)

    def _try_submit(self, records: list, rejected: list, marks: tuple, force: bool = False) -> bool:
        def durable(result: AddResult) -> None:
            self._durable_from_thread(result, marks)
        return self.writer.submit(records, rejected, on_durable=durable, timeout=0, force=force)

    def hand_over_held(self) -> int:
        """At shutdown: queue every batch held back by backpressure, past the writer's bound (they
        are in memory already), so the writer commits them or counts them as not durable.
        Returns how many call records were handed over."""
        n = 0
        while self._held:
            records, rejected, marks = self._held.popleft()
            self._try_submit(records, rejected, marks, force=True)
            n += len(records)
        return n

    def _release_held(self) -> None:
        while self._held:
            records, rejected, marks = self._held[0]
            if not self._try_submit(records, rejected, marks):
                self._loop.call_later(0.1, self._release_held)
                return
            self._held.popleft()
        log.debug("store caught up: resuming device input")
        self._pause_inputs(False)

    def _durable_from_thread(self, result: AddResult, marks: tuple) -> None:
        n = len(result.inserted)
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._durable, n, marks)

    def _durable(self, n: int, marks: tuple) -> None:
        self.records_durable += n
        for token in marks:
            if callable(token):
                token()
            else:
                self._ready(token)
        if n:
            self._on_durable(n)
