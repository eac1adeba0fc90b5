"""The call state machine: device events in, finished call records (CDRs) out. Pure: no I/O, no clock."""
from __future__ import annotations

from datetime import datetime
from typing import Callable
from uuid import uuid4

from firmware_bridge.smdr.legs import leg_reader

from appliance.calls.lines import LINE_EVENTS, LineCalls
from appliance.calls.record import CallRecord
from appliance.calls.smdr import SmdrCalls
from appliance.calls.source import DeviceInfo, LineState, LiveCall
from appliance.common.time import as_utc

__all__ = ["CallTracker", "DeviceInfo", "LineState", "LiveCall"]

_DEFAULT_LEGS = leg_reader()


class CallTracker:
    """Turns typed events from lines and PBXs into CallRecords.

    Lines (role "line") are followed call by call (appliance.calls.lines); PBX feeds (role "smdr")
    give one record per leg (appliance.calls.smdr). Every time comes in as an argument.
    """

    def __init__(self, site_id: str, *, new_id: Callable[[], str] = lambda: uuid4().hex,
                 ring_timeout_s: float = 8.0, open_leg_ttl_s: float = 86400.0):
        self.site_id = site_id
        self._lines = LineCalls(site_id, new_id, ring_timeout_s)
        self._smdr = SmdrCalls(site_id, open_leg_ttl_s=open_leg_ttl_s)

    def register(self, source: DeviceInfo) -> None:
        """Declare a line before it sends anything, so queue statistics count it as free."""
        if source.role == "line":
            self._lines.register(source)

    def handle(self, source: DeviceInfo, event, now: datetime) -> list[CallRecord]:
        """Feed one event from `source` received at `now`; returns the calls it finished."""
        now = as_utc(now)
        role = source.role
        if role == "smdr":
            leg = (source.to_leg or _DEFAULT_LEGS)(event)
            return [] if leg is None else [self._smdr.leg(source, leg, now)]
        if role == "line" and isinstance(event, LINE_EVENTS):
            return self._lines.handle(source, event, now)
        return []   # ProtocolError (stored as rejected_raw by the daemon)

    def handle_all(self, source: DeviceInfo, events: list, now: datetime) -> list[CallRecord]:
        """`handle` for each of a batch of events from one source (the SMDR path looked up once)."""
        now = as_utc(now)
        if source.role != "smdr":
            return [record for event in events for record in self.handle(source, event, now)]
        read = source.to_leg or _DEFAULT_LEGS
        smdr, out = self._smdr, []
        for event in events:
            leg = read(event)                        # the wire format is read in firmware_bridge only
            if leg is not None:
                out.append(smdr.leg(source, leg, now))
        return out

    def tick(self, now: datetime) -> list[CallRecord]:
        """Time-driven endings: rings that stopped. Also forgets PBX calls whose last leg never came."""
        now = as_utc(now)
        out = self._lines.tick(now)
        self._smdr.forget_stale_legs(now)
        return out

    def device_down(self, name: str, now: datetime) -> list[CallRecord]:
        """The device disappeared: its call in progress (if any) ends as "failed"."""
        return self._lines.device_down(name, as_utc(now))

    def seed_open_legs(self, source: str, legs: dict[str, int]) -> None:
        """After a restart: PBX call ids with legs already stored (Store.open_pbx_legs)."""
        self._smdr.seed_open_legs(source, legs)

    @property
    def clock_fallbacks(self) -> int:
        """SMDR records timed by their arrival because their own time was unusable."""
        return self._smdr.clock_fallbacks

    def lines(self) -> list[LineState]:
        return self._lines.lines()

    def live_calls(self) -> list[LiveCall]:
        return self._lines.live_calls()

    def in_progress(self) -> int:
        return self._lines.in_progress()
