"""Call audio at run time: when an agent takes a line call, bridge the two and record the call.

Everything here that touches a sound card, a file or the store runs on one `audio-control` thread
(opening a PCM, stopping a recorder and closing files block for milliseconds); the loop only hands
work over and takes results back through `call_soon_threadsafe`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable

from appliance.audio.recovery import interrupted_record
from appliance.audio.session import AudioSession, SessionPlan
from appliance.audio.settings import RecordingConfig
from appliance.calls.record import CallRecord, Recording

log = logging.getLogger("appliance.audio")


class AudioService:
    """One session per answered call whose line and headset both have audio.

    `answered(record)` starts it (record: the call as known at the answer); `finish(records)`
    takes back the records of calls that have a session, and hands each to `complete(record,
    after)` once its recording is closed (`after()` must run once the record is durable: the
    crash-safety row of the call is removed then). Recovery after a crash: `recover(store)`.
    """

    def __init__(self, config: RecordingConfig, *, directory: Path, lines: dict, headsets: dict,
                 store_writes: Callable[[Callable], object], loop: asyncio.AbstractEventLoop,
                 complete: Callable[[CallRecord, Callable[[], None]], None],
                 wallclock: Callable[[], datetime], clock: Callable[[], float]):
        self.config, self.directory = config, Path(directory)
        self._lines, self._headsets = lines, headsets           # name -> settings with `audio` set
        self._store_writes = store_writes      # the daemon's store writer: fn(store) on its thread
        self._loop = loop
        self._complete = complete
        self._wallclock, self._clock = wallclock, clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio-control")
        self._host = None
        self.sessions: dict[str, AudioSession] = {}
        self.alarms: dict[str, str] = {}                        # what an operator must fix, by kind
        self.recorded = self.refused = self.truncated = 0
        self._pause_alerted: set[str] = set()

    # ---- the loop's side -----------------------------------------------------------------

    def has_audio(self, line: str, headset: str) -> bool:
        return line in self._lines and headset in self._headsets

    def answered(self, record: CallRecord) -> None:
        """An agent's headset took a line call: start its bridge and recording (off the loop)."""
        if record.key in self.sessions or not self.has_audio(record.source, record.headset):
            return
        plan = SessionPlan(record=record, line=self._lines[record.source], headset=self._headsets[record.headset],
                           config=self.config, directory=self.directory)
        session = AudioSession(plan, wallclock=self._wallclock, clock=self._clock)
        self.sessions[record.key] = session
        self._pool.submit(self._start, session)

    def finish(self, records: list[CallRecord]) -> list[CallRecord]:
        """Keep back the records of calls with a session; each comes back through `complete`."""
        out = []
        for record in records:
            session = self.sessions.pop(record.key, None)
            if session is None:
                out.append(record)
            else:
                self._pool.submit(self._stop, session, record)
        return out

    def pause(self, call_key: str, by: str) -> bool:
        session = self.sessions.get(call_key)
        return session is not None and session.pause(by)

    def resume(self, call_key: str, by: str) -> bool:
        session = self.sessions.get(call_key)
        return session is not None and session.resume(by)

    def toggle_pause(self, call_key: str, by: str) -> str:
        session = self.sessions.get(call_key)
        if session is None:
            return "no recording"
        return "resumed" if session.resume(by) else ("paused" if session.pause(by) else "unchanged")

    def tick(self) -> None:
        """A PCI pause left on too long is an alert (card details must not stay unrecorded for ever)."""
        limit = self.config.pci_pause_max_s
        for key, session in self.sessions.items():
            paused_for = session.paused_for()
            if paused_for is not None and paused_for > limit and key not in self._pause_alerted:
                self._pause_alerted.add(key)
                self.alarms["pci_pause"] = f"recording of {key} paused for {paused_for:.0f} s (pci_pause_max_s {limit:g})"
                log.warning("ALERT: %s", self.alarms["pci_pause"])
            elif paused_for is None and key in self._pause_alerted:
                self._pause_alerted.discard(key)
                self.alarms.pop("pci_pause", None)

    # ---- the audio-control thread --------------------------------------------------------------

    def _start(self, session: AudioSession) -> None:
        try:
            if self._host is None:
                from appliance.audio.devices import AudioHost
                self._host = AudioHost(clock=self._clock)
            refusal = session.start(self._host)
            self._alarm(refusal)
            if session.recording_started:
                record, saved_at = session.plan.record, self._wallclock().timestamp()
                self._store_writes(lambda store: store.save_open_call(record, saved_at))
        except Exception:  # noqa: BLE001 - audio must never take the call down with it
            log.exception("%s: audio could not start", session.plan.record.key)

    def _stop(self, session: AudioSession, record: CallRecord) -> None:
        try:
            recording = session.stop()
        except Exception as exc:  # noqa: BLE001 - the record must still be stored
            log.exception("%s: audio did not stop cleanly", record.key)
            recording = Recording(status="truncated", reason=f"the recorder failed: {exc}")
        self._count(recording)
        final = dataclasses.replace(record, recording=recording) if recording is not None else record
        saved = session.recording_started
        self._loop.call_soon_threadsafe(self._complete, final,
                                        partial(self._pool.submit, self._forget, final.key) if saved else None)

    def _forget(self, key: str) -> None:
        try:
            self._store_writes(lambda store: store.close_open_calls([key]))
        except Exception:  # noqa: BLE001 - a leftover row only means a duplicate record after a crash
            log.exception("%s: could not remove its crash-safety row", key)

    def _count(self, recording: Recording | None) -> None:
        if recording is None:
            return
        if recording.status == "recorded":
            self.recorded += 1
        elif recording.status == "truncated":
            self.truncated += 1
        elif recording.status == "not_recorded":
            self.refused += 1

    def _alarm(self, refusal: str) -> None:
        if refusal:
            if self.alarms.get("recording") != refusal:
                log.error("ALERT: call not recorded: %s", refusal)
            self.alarms["recording"] = refusal
        else:
            self.alarms.pop("recording", None)

    # ---- start and stop --------------------------------------------------------------------------

    def recover(self, store) -> list[CallRecord]:
        """At start, on a thread: calls that were being recorded when the daemon died."""
        out = []
        for record, saved_at in store.open_calls():
            out.append(interrupted_record(record, saved_at, self.directory))
            self.truncated += 1
        return out

    async def close(self) -> None:
        for key, session in list(self.sessions.items()):
            self._pool.submit(session.stop)       # segments closed; the record comes after a restart
        self.sessions.clear()
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close_thread_state)
        self._pool.shutdown(wait=True)

    def _close_thread_state(self) -> None:
        if self._host is not None:
            self._host.close()

    def status(self) -> dict:
        return {"calls": {k: s.status() for k, s in self.sessions.items()}, "recorded": self.recorded,
                "not_recorded": self.refused, "truncated": self.truncated, "alarms": dict(self.alarms)}
