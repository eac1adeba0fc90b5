"""One answered call's audio: the two devices, the bridge between them and the recorder, start to stop."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable

from appliance.audio.settings import RecordingConfig
from appliance.calls.record import CallRecord, Recording

log = logging.getLogger("appliance.audio")


@dataclass(frozen=True)
class SessionPlan:
    record: CallRecord            # the call as known when the agent answered
    line: object                  # LineSettings (audio, audio_rate, audio_paced)
    headset: object               # HeadsetSettings (audio, audio_rate, audio_paced)
    config: RecordingConfig
    directory: Path


class AudioSession:
    """Runs on the audio-control thread, except pause/resume/paused_for (any thread, under a lock)."""

    def __init__(self, plan: SessionPlan, *, wallclock: Callable[[], datetime], clock: Callable[[], float]):
        self.plan = plan
        self._wallclock, self._clock = wallclock, clock
        self._lock = threading.Lock()
        self._devices: list = []
        self._bridge = None
        self._recorder = None
        self._refused: Recording | None = None
        self._paused_since: float | None = None
        self.recording_started = False

    def start(self, host) -> str:
        """Open both devices, start the recorder (if allowed) and the bridge. Returns why the call
        is not recorded ("" when it is, or when recording is off)."""
        from appliance.audio.bridge import Bridge
        from appliance.audio.devices import AudioDeviceConfig
        line, headset = self.plan.line, self.plan.headset
        try:
            line_dev = host.open(AudioDeviceConfig(line.name, line.audio, line.audio_rate, paced=line.audio_paced))
            self._devices.append(line_dev)
            head_dev = host.open(AudioDeviceConfig(headset.name, headset.audio, headset.audio_rate,
                                                   paced=headset.audio_paced))
            self._devices.append(head_dev)
        except Exception as exc:  # noqa: BLE001 - DeviceNotFound and PortAudio's own errors alike
            self._close_devices()
            reason = f"audio device unavailable: {exc}"
            log.error("%s: %s", self.plan.record.key, reason)
            self._refused = Recording(status="not_recorded", reason=reason)
            return reason
        refusal = self._start_recorder(line.audio_rate)
        rec = self._recorder
        self._bridge = Bridge(self.plan.record.key, line_dev, head_dev,
                              caller_tap=rec.caller if rec else None, agent_tap=rec.agent if rec else None,
                              on_lost=self._lost)
        self._bridge.start()
        return refusal

    def _start_recorder(self, rate: int) -> str:
        cfg = self.plan.config
        if not cfg.enabled:
            return ""
        from appliance.audio.recorder import CallRecorder
        from appliance.audio.segments import SegmentWriter
        from appliance.audio.space import RecordingSpace
        try:
            recipients = cfg.recipient_list()
        except OSError as exc:
            recipients, reason = [], f"recipients_file unreadable: {exc.strerror or exc}"
        else:
            reason = "" if recipients else "no recipient configured ([recording] recipients)"
        if not reason:
            ok, why = RecordingSpace(self.plan.directory, cfg.quota_mb, cfg.reserve_mb).can_start()
            reason = "" if ok else why
        if reason:
            self._refused = Recording(status="not_recorded", reason=reason)
            return reason
        key = self.plan.record.key
        self._recorder = CallRecorder(
            key, partial(SegmentWriter, self.plan.directory, key, recipients, rate, segment_s=cfg.segment_s),
            rate, vad_mode=cfg.vad_mode, trim_silence_s=cfg.trim_silence_s or None, clock=self._clock,
            utcnow=self._wallclock)
        self._recorder.start()
        self.recording_started = True
        return ""

    def _lost(self, device, sentence: str) -> None:
        log.warning("%s: %s", self.plan.record.key, sentence)

    def pause(self, by: str) -> bool:
        with self._lock:
            if self._recorder is None or self._paused_since is not None:
                return False
            self._recorder.pause(by, self._wallclock())
            self._paused_since = self._clock()
            return True

    def resume(self, by: str) -> bool:
        with self._lock:
            if self._recorder is None or self._paused_since is None:
                return False
            self._recorder.resume(by, self._wallclock())
            self._paused_since = None
            return True

    def paused_for(self) -> float | None:
        with self._lock:
            return None if self._paused_since is None else self._clock() - self._paused_since

    def stop(self) -> Recording | None:
        """Stop the bridge and the recorder; the Recording for the call record (None: not recorded
        because recording is off)."""
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None
        recording = self._recorder.stop() if self._recorder is not None else self._refused
        self._recorder = None
        self._close_devices()
        return recording

    def _close_devices(self) -> None:
        for device in self._devices:
            try:
                device.close()
            except Exception:  # noqa: BLE001 - a device that went away closes badly
                log.debug("%s: device close failed", self.plan.record.key, exc_info=True)
        self._devices = []

    def status(self) -> dict:
        return {"recording": self._recorder is not None, "paused_for_s": self.paused_for(),
                "refused": self._refused.reason if self._refused else "",
                "bridge": self._bridge.status() if self._bridge is not None else None}
