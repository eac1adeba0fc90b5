"""The floor's side of the daemon: queue statistics, wallboards and live events for screen-pop.

Wiring at the top, like daemon.py and ingest.py: the pure stages (calls.watch, stats, wallboard,
sync.publisher) are put together here and fed from the call tracker and the device runners.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, tzinfo
from typing import Callable

from firmware_bridge.registry import kind as device_kind

from appliance.calls import CallTracker, DeviceInfo
from appliance.calls.watch import CallChange, CallWatcher
from appliance.common.tasks import TaskGroup
from appliance.common.time import iso_utc
from appliance.config import Config
from appliance.devices import DeviceRunner
from appliance.stats.service import QueueStatsService, sign_figures

log = logging.getLogger("appliance.daemon")

SOON_S = 0.02          # a change on the lines reaches the figures and the signs this soon (bursts coalesce)


class Floor:
    """Everything supervisors and the CRM see live. Runs on the daemon's loop."""

    def __init__(self, config: Config, tracker: CallTracker, device_info: dict[str, DeviceInfo],
                 runners: dict[str, DeviceRunner], *, tz: tzinfo, clock: Callable[[], float],
                 wallclock: Callable[[], datetime]):
        self.config, self.tracker = config, tracker
        self._device_info, self._runners = device_info, runners
        self._clock, self._wallclock = clock, wallclock
        self.stats = QueueStatsService(config.queue, tz=tz, clock=lambda: wallclock().timestamp(),
                                       live=self._live_inputs)
        self.watch = CallWatcher()
        self.wallboards = None
        self.live = None
        self.agents = None                              # appliance.agents.service.AgentsService
        self.change_listeners: list[Callable[[list[CallChange]], None]] = []
        self._finished: list = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._soon: asyncio.TimerHandle | None = None

    # ---- start and stop --------------------------------------------------------------------

    def restore(self, store) -> int:
        """After a (re)start: yesterday's and today's finished calls back into the figures."""
        return self.stats.load(store.records_started_since(iso_utc(self.stats.since_for_restore())))

    def start(self, loop: asyncio.AbstractEventLoop, tasks: TaskGroup) -> None:
        self._loop = loop
        signs = [d.settings for d in self.config.devices if device_kind(d.kind).role == "wallboard"]
        if signs:
            from appliance.wallboard.service import WallboardService
            self.wallboards = WallboardService(signs, clock=self._clock)
            self.wallboards.start(loop)
        if self.config.central.endpoints:
            from appliance.sync.publisher import LivePublisher
            self.live = LivePublisher(self.config.central, self.config.site.id, self._snapshot,
                                      clock=self._clock, wallclock=self._wallclock)
            tasks.start(self.live.run(), "live-events")
        self.stats.subscribe(self._stats_changed)

    async def close(self) -> None:
        if self._soon is not None:
            self._soon.cancel()
        if self.wallboards is not None:
            self.wallboards.close()
        if self.live is not None:
            await self.live.stop()

    # ---- inputs ----------------------------------------------------------------------------

    def records_finished(self, records: list) -> None:
        """From the ingest: calls that finished (they are on their way to the store)."""
        self.stats.records_finished(records)
        self._finished.extend(records)

    def calls_changed(self) -> list[CallChange]:
        """After every batch of device events and every tick: what changed on the lines."""
        finished, self._finished = self._finished, []
        changes = self.watch.update(self.tracker.live_calls(), finished)
        self.publish(changes)
        if self.agents is not None and changes:
            self.agents.changes(changes)
        return changes

    def attach_agents(self, agents) -> None:
        """The agents tell the floor what only they know: who rings and answers, mutes, agent states."""
        self.agents = agents
        agents.on_call = lambda key, kind, agent, headset: self.publish(self.watch.agent(key, kind, agent, headset))
        agents.on_mute = lambda key, muted: self.publish(self.watch.mute(key, muted))
        agents.on_agent = self._agent_changed

    def _agent_changed(self, change) -> None:
        self._live_changed()
        if self.live is not None:
            from appliance.sync.convert import agent_event
            self.live.agent(agent_event(change))

    def publish(self, changes: list[CallChange]) -> None:
        if changes:
            self._live_changed()
            for listener in self.change_listeners:
                listener(changes)
        if self.live is not None:
            from appliance.sync.convert import call_event      # protobuf: loaded only with a central
            for change in changes:
                self.live.call(call_event(change))

    def _live_changed(self) -> None:
        """Callers or agents changed: the figures, and the signs showing them, follow within SOON_S
        instead of at the next tick."""
        self.stats.live_changed()
        if self._loop is not None and self._soon is None:
            self._soon = self._loop.call_later(SOON_S, self._follow)

    def _follow(self) -> None:
        self._soon = None
        self.stats.tick()
        if self.wallboards is not None:
            self.wallboards.tick(self._clock())

    def tick(self, now: float) -> None:
        self.calls_changed()
        if self.agents is not None:
            self.agents.tick()
        self.stats.tick()
        if self.wallboards is not None:
            self.wallboards.on_sources(self._sources())
            self.wallboards.tick(now)

    # ---- what the others read --------------------------------------------------------------

    def _live_inputs(self):
        """Callers waiting, agents, and the queues that have a line (live figures exist for them)."""
        line_queues = {info.queue for info in self._device_info.values() if info.role == "line" and info.queue}
        return self.tracker.live_calls(), self._agent_inputs(), line_queues

    def _agent_inputs(self) -> list:
        if self.agents is None:
            return []
        from appliance.stats.live import AgentInput
        return [AgentInput(a["name"], a["state"], tuple(a["queues"])) for a in self.agents.machine.list()]

    def _sources(self) -> dict:
        """Every device that feeds a queue: (up, since, queue), for signs that go stale without data."""
        return {name: (r.state.up, r.state.since, self._device_info[name].queue)
                for name, r in self._runners.items() if name in self._device_info}

    def _stats_changed(self, snapshot: dict, alerts: list) -> None:
        raised = {a.queue for a in self.stats.engine.active_alerts()}
        if self.wallboards is not None:
            figures = {q: sign_figures(snap) for q, snap in snapshot.items()}
            thresholds = {q: (snap.settings.alert_longest_wait_s, snap.settings.alert_service_level_pct)
                          for q, snap in snapshot.items()}
            self.wallboards.on_stats(figures, thresholds, raised)
        if self.live is not None:
            for alert in alerts:
                self.live.alert(alert.to_pb())
            self.live.stats([snap.to_pb() for snap in snapshot.values()])

    def _snapshot(self):
        from appliance.sync.convert import call_event
        from appliance.v1 import live_pb2
        return live_pb2.SiteSnapshot(
            calls=[call_event(c) for c in self.watch.current()], agents=self.agent_snapshot(),
            alerts=[a.to_pb() for a in self.stats.engine.active_alerts()], queues=self.stats.engine.to_pb())

    def agent_snapshot(self) -> list:
        if self.agents is None:
            return []
        from appliance.sync.convert import agent_event
        return [agent_event(a) for a in self.agents.machine.snapshot()]

    def status(self) -> dict:
        out = {"stats": self.stats.status()}
        if self.wallboards is not None:
            out["wallboards"] = self.wallboards.status()
        if self.live is not None:
            out["live_events"] = self.live.status()
        return out
