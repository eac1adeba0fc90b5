"""The agents' side of the daemon: headsets and agents answering lines, call audio and its recording.

Wiring at the top, like daemon.py, ingest.py and floor.py: the agents machine and the audio
sessions are put together here, fed from the call watcher and finished into the call records.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Callable

from firmware_bridge.registry import kind as device_kind

from appliance.calls.record import CallRecord
from appliance.calls.watch import CallChange
from appliance.common.time import iso_utc
from appliance.config import Config

log = logging.getLogger("appliance.daemon")


class Desk:
    """Owns the AgentsService and the AudioService (each only when the config has what it needs)."""

    def __init__(self, config: Config, *, line_driver: Callable[[str], object | None],
                 store_writes: Callable[[Callable], object], wallclock: Callable[[], datetime],
                 clock: Callable[[], float]):
        """`store_writes(fn)` runs fn(store) on the daemon's store writer (StoreWriter.call)."""
        self.config = config
        self._line_driver, self._store_writes = line_driver, store_writes
        self._wallclock, self._clock = wallclock, clock
        self.agents = None
        self.audio = None
        self.recordings = Path(config.site.data_dir) / "recordings"
        self._complete: Callable | None = None

    def start(self, loop: asyncio.AbstractEventLoop, floor, complete: Callable) -> None:
        """`complete(records, after)` stores records the desk finished later (after a recording)."""
        self._complete = complete
        devices = self.config.devices
        headsets = [d.settings for d in devices if device_kind(d.kind).role == "headset"]
        if headsets:
            from appliance.agents.service import AgentsService
            self.agents = AgentsService(
                headsets, wrap_up_s_for_queue=lambda q: self.config.queue_settings(q).wrap_up_s,
                line_driver=self._line_driver, wallclock=self._wallclock, clock=self._clock)
            self.agents.on_button = self._button
            floor.attach_agents(self.agents)
            self.agents.start(loop)
        lines = {d.settings.name: d.settings for d in devices
                 if device_kind(d.kind).role == "line" and d.settings.audio}
        with_audio = {h.name: h for h in headsets if h.audio}
        if lines and with_audio:
            from appliance.audio.service import AudioService
            self.audio = AudioService(self.config.recording, directory=self.recordings, lines=lines,
                                      headsets=with_audio, store_writes=self._store_writes, loop=loop,
                                      complete=lambda record, after: complete([record], after),
                                      wallclock=self._wallclock, clock=self._clock)

    # ---- the flow ----------------------------------------------------------------------------

    def finish(self, records: list[CallRecord]) -> list[CallRecord]:
        """Finished calls: the agents complete their records; calls with audio come back later."""
        if self.agents is not None:
            records = self.agents.finish(records)
        if self.audio is not None:
            records = self.audio.finish(records)
        return records

    def changes(self, changes: list[CallChange]) -> None:
        """After the call watcher: an agent's answer starts the call's audio."""
        if self.audio is None:
            return
        for c in changes:
            if c.kind == "answered" and c.headset:
                self.audio.answered(self._record_so_far(c))

    def _record_so_far(self, c: CallChange) -> CallRecord:
        """The call as known at the answer: kept durably while it is recorded (crash safety)."""
        kind = next((d.kind for d in self.config.devices if d.name == c.line), "")
        return CallRecord(key=c.key, site_id=self.config.site.id, source=c.line, source_kind=kind,
                          direction="inbound", caller=c.caller, callee="", dialled_number="", queue=c.queue,
                          agent=c.agent, started_at=c.started_at, answered_at=iso_utc(self._wallclock()),
                          ended_at="", ring_s=0, talk_s=0, hold_s=0, disposition="answered", headset=c.headset)

    def line_events(self, line: str, events: list) -> None:
        if self.agents is not None:
            self.agents.line_events(line, events)

    def _button(self, headset: str, button: str, call_key: str) -> None:
        """A headset button the site mapped to PCI pause (pci_pause_button) toggles the recording."""
        settings = next((d.settings for d in self.config.devices if d.name == headset), None)
        if self.audio is not None and settings is not None and settings.pci_pause_button == button and call_key:
            log.info("%s: PCI pause button: %s", headset, self.audio.toggle_pause(call_key, f"headset:{headset}"))

    def tick(self) -> None:
        if self.audio is not None:
            self.audio.tick()

    # ---- after a crash -----------------------------------------------------------------------

    def recover(self, store) -> tuple[list[CallRecord], list[str]]:
        """On a thread at start: calls recorded when the daemon died, finished as interrupted."""
        found = store.open_calls()
        if not found:
            return [], []          # the usual start: the audio code (and its crypto) is not even loaded
        from appliance.audio.recovery import interrupted_record
        log.warning("%d call(s) were being recorded when the appliance stopped: stored as interrupted, "
                    "recordings truncated", len(found))
        return [interrupted_record(r, saved, self.recordings) for r, saved in found], [r.key for r, _ in found]

    def forget(self, keys: list[str]) -> None:
        """Their records are durable: drop the crash-safety rows (on the store writer)."""
        self._store_writes(lambda store: store.close_open_calls(keys))

    # ---- control socket ----------------------------------------------------------------------

    def commands(self) -> dict:
        return {"agent_list": self._agent_list, "agent_pause": self._agent_pause,
                "agent_resume": self._agent_resume, "recording_pause": self._recording_pause,
                "recording_resume": self._recording_resume}

    def _agent_list(self) -> dict:
        return {"agents": self.agents.machine.list() if self.agents is not None else []}

    def _agent_pause(self, name: str, reason: str = "") -> dict:
        return self._agent_do(lambda now: self.agents.machine.pause(name, reason, now))

    def _agent_resume(self, name: str) -> dict:
        return self._agent_do(lambda now: self.agents.machine.resume(name, now))

    def _agent_do(self, fn) -> dict:
        if self.agents is None:
            return {"error": "no headsets are configured: there are no agents"}
        from appliance.agents import UnknownAgent
        try:
            self.agents.do(fn(self._wallclock().timestamp()))
        except UnknownAgent as exc:
            return {"error": str(exc)}
        return self._agent_list()

    def _recording_pause(self, call: str, by: str = "control") -> dict:
        return self._recording_do(call, by, pause=True)

    def _recording_resume(self, call: str, by: str = "control") -> dict:
        return self._recording_do(call, by, pause=False)

    def _recording_do(self, call: str, by: str, *, pause: bool) -> dict:
        if self.audio is None or call not in self.audio.sessions:
            return {"error": f"no recording in progress for call {call!r}"}
        done = self.audio.pause(call, by) if pause else self.audio.resume(call, by)
        log.info("recording of %s %s by %s", call, ("paused" if pause else "resumed") if done else "unchanged", by)
        return {"call": call, "paused": pause if done else not pause, "changed": done}

    # ---- status and stop ---------------------------------------------------------------------

    def status(self) -> dict:
        out = {}
        if self.agents is not None:
            out.update(self.agents.status())
        if self.audio is not None:
            out["audio"] = self.audio.status()
        return out

    async def close(self) -> None:
        if self.audio is not None:
            await self.audio.close()

