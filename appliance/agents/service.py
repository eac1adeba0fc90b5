"""The agents at run time: headset drivers on the loop, the agents machine fed from calls and headsets,
its actions carried out on the lines and headsets, and what it knows of each call put into its record."""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Callable, Iterable

from firmware_bridge.events import CommandResult, HeadsetButton, HookSwitch, PhoneMute
from firmware_bridge.registry import kind as device_kind

from appliance.agents.actions import (AgentChanged, AnswerLine, CallAgentInfo, CallMuted, HangupLine,
                                      HeadsetConfig, SetHeadset)
from appliance.agents.machine import Agents
from appliance.calls.record import CallRecord
from appliance.calls.watch import CallChange
from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.devices import DeviceRunner

log = logging.getLogger("appliance.agents")

_HEADSET_EVENTS = (HookSwitch, PhoneMute, HeadsetButton)


class AgentsService:
    """Owns the headset runners and the agents machine. Every input ends in `_do(actions)`.

    `line_driver(name)` gives the open driver of a line (or None). Listeners: `on_agent(AgentChanged)`
    and `on_call(key, kind, agent, headset)` / `on_mute(key, muted)` feed live events and statistics.
    """

    def __init__(self, headsets: Iterable, *, wrap_up_s_for_queue: Callable[[str], float],
                 line_driver: Callable[[str], object | None], wallclock: Callable[[], datetime],
                 clock: Callable[[], float]):
        self.machine = Agents(wrap_up_s_for_queue=wrap_up_s_for_queue)
        self._line_driver = line_driver
        self._now = lambda: wallclock().timestamp()
        self._clock = clock
        self.runners: dict[str, DeviceRunner] = {}
        self._settings = {h.name: h for h in headsets}
        self._answering: dict[str, str] = {}           # call key -> line, while an ATA is out
        self.on_agent: Callable[[AgentChanged], None] = lambda change: None
        self.on_call: Callable[[str, str, str, str], None] = lambda key, kind, agent, headset: None
        self.on_mute: Callable[[str, bool], None] = lambda key, muted: None
        self.on_button: Callable[[str, str, str], None] = lambda headset, button, call_key: None
        self.actions_done = 0

    def start(self, loop) -> None:
        configs = [HeadsetConfig(h.name, h.agent, tuple(h.queues)) for h in self._settings.values()]
        self._do(self.machine.configure(configs, self._now()))
        driver_cls = device_kind("headset").load("driver")
        for name, settings in self._settings.items():
            policy = BackoffPolicy(settings.reconnect_delay, settings.reconnect_delay_max)
            runner = DeviceRunner("headset", driver_cls.from_settings(settings), self._headset_events,
                                  Backoff(policy), on_up=self._up, on_down=self._down, clock=self._clock)
            self.runners[name] = runner
        for runner in self.runners.values():
            runner.start(loop)

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()

    # ---- inputs ------------------------------------------------------------------------------

    def _headset_events(self, name: str, events: list, mark) -> None:
        now = self._now()
        for event in events:
            if isinstance(event, HeadsetButton):
                self.on_button(name, event.button, self._call_of(name))
            if isinstance(event, _HEADSET_EVENTS):
                self._do(self.machine.headset_event(name, event, now))

    def _call_of(self, headset: str) -> str:
        return next((a.get("call_key") or "" for a in self.machine.list() if a.get("headset") == headset), "")

    def _up(self, name: str) -> None:
        self._do(self.machine.headset_up(name, self._now()))

    def _down(self, name: str) -> None:
        self._do(self.machine.headset_down(name, self._now()))

    def changes(self, changes: list[CallChange]) -> None:
        """From the call watcher: lines that began ringing or were answered."""
        now = self._now()
        for c in changes:
            if c.kind == "ringing" and c.seq == 1:
                self._do(self.machine.call_ringing(c.line, c.key, c.queue, c.caller, now))
            elif c.kind == "answered":
                self._answering.pop(c.key, None)
                self._do(self.machine.call_answered(c.line, c.key, now))

    def line_events(self, line: str, events: list) -> None:
        """A line refused our ATA (ERROR): the caller left as the agent lifted."""
        for event in events:
            if isinstance(event, CommandResult) and event.command.strip().upper() == "ATA" and not event.ok:
                for key, answering in list(self._answering.items()):
                    if answering == line:
                        del self._answering[key]
                        self._do(self.machine.answer_refused(line, key, self._now()))

    def finish(self, records: list[CallRecord]) -> list[CallRecord]:
        """Calls the tracker just finished: the agents hear of it, and each record gains its agent,
        headset, ring-to-answer, mute intervals and wrap-up (before the record is stored)."""
        now = self._now()
        out = []
        for record in records:
            if record.source_kind not in ("gsm", "voice-modem"):
                out.append(record)
                continue
            self._answering.pop(record.key, None)
            actions = self.machine.call_ended(record.source, record.key, record.disposition, now)
            info = next((a for a in actions if isinstance(a, CallAgentInfo) and a.call_key == record.key), None)
            self._do([a for a in actions if a is not info])
            out.append(_with_agent(record, info) if info is not None else record)
        return out

    def tick(self) -> None:
        self._do(self.machine.tick(self._now()))

    # ---- carrying out ------------------------------------------------------------------------

    def do(self, actions: list) -> None:
        """Carry out what the machine decided (for inputs that come from elsewhere: the control socket)."""
        self._do(actions)

    def _do(self, actions: list) -> None:
        for action in actions:
            self.actions_done += 1
            if isinstance(action, AnswerLine):
                self._line(action.line, "answer", action.call_key)
            elif isinstance(action, HangupLine):
                self._line(action.line, "hangup", action.call_key)
            elif isinstance(action, SetHeadset):
                runner = self.runners.get(action.headset)
                if runner is not None:
                    runner.driver.set_state(ring=action.ring, off_hook=action.off_hook, mute=action.mute)
            elif isinstance(action, AgentChanged):
                self._agent_changed(action)
            elif isinstance(action, CallMuted):
                self.on_mute(action.call_key, action.muted)
            elif isinstance(action, CallAgentInfo):
                log.debug("agent info for %s came after its record was stored", action.call_key)

    def _line(self, line: str, what: str, key: str) -> None:
        driver = self._line_driver(line)
        if driver is None:
            log.warning("%s: cannot %s call %s: the line is not open", line, what, key)
            return
        if what == "answer":
            self._answering[key] = line
            driver.answer()
        else:
            driver.hangup()

    def _agent_changed(self, change: AgentChanged) -> None:
        log.info("agent %s: %s%s", change.agent, change.state, f" ({change.reason})" if change.reason else "")
        if change.call_key and change.state == "ringing":
            self.on_call(change.call_key, "agent_ringing", change.agent, change.headset)
        elif change.call_key and change.state == "on_call":
            self.on_call(change.call_key, "answered", change.agent, change.headset)
        self.on_agent(change)

    def status(self) -> dict:
        now = self._clock()
        agents = self.machine.list()
        for a in agents:
            runner = self.runners.get(a.get("headset", ""))
            a["headset_state"] = "UP" if runner is not None and runner.state.up else "DOWN"
        return {"agents": agents, "headsets": [r.state.as_dict(now) for r in self.runners.values()]}


def _with_agent(record: CallRecord, info: CallAgentInfo) -> CallRecord:
    return dataclasses.replace(record, agent=info.agent, headset=info.headset, agent_ring_s=info.agent_ring_s,
                               mute_intervals=info.mute_intervals, muted_s=info.muted_s,
                               wrap_up_s=info.wrap_up_s, headset_lost=info.headset_lost)
