"""One call's two-way audio: line capture -> headset playback and headset capture -> line playback."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from firmware_bridge.exceptions import DeviceGone

from .devices import AudioDevice
from .resample import Resampler

log = logging.getLogger(__name__)

MAX_JITTER_MS = 60
DRAIN_AFTER_FRAMES = 50      # a jitter buffer above its target this long (1 s of 20 ms frames) sheds a frame
Tap = Callable[[bytes], None]


@dataclass(frozen=True)
class DirectionStats:
    """One direction of a bridge; delay is what the gateway adds (queues + resampling filter)."""
    frames: int
    underruns: int           # the listener's device played silence for want of a frame
    dropped: int             # frames dropped: capture backlog, a full jitter buffer (oldest first),
                             # or one shed after the buffer stayed above its target (delay drained)
    delay_median_ms: float
    delay_p99_ms: float


@dataclass(frozen=True)
class BridgeStats:
    to_agent: DirectionStats       # caller -> agent (line capture -> headset playback)
    to_caller: DirectionStats      # agent -> caller (headset capture -> line playback)
    lost: tuple[str, ...]          # a sentence per device lost during the call


class _Direction:
    """Forwards one device's captured frames to another's playback and to a recording tap."""

    def __init__(self, source: AudioDevice, target: AudioDevice, tap: Tap | None, tap_source: bool):
        self.source, self.target = source, target
        self.resampler = Resampler(source.rate, target.rate)
        self.tap = tap
        self.tap_source = tap_source      # tap the captured frame (True) or the converted one
        self.frames = 0
        self.drained = 0
        self._above_target = 0
        self._base = self._counters()

    def _counters(self) -> tuple[int, int]:
        dropped = (self.source.capture.dropped if self.source.capture else 0) + \
                  (self.target.playback.dropped if self.target.playback else 0)
        return self.target.underruns, dropped + self.drained

    def pump(self) -> None:
        capture, playback = self.source.capture, self.target.playback
        if capture is None:
            return
        while (item := capture.get()) is not None:
            stamp, pcm = item
            converted = self.resampler.process(pcm)
            if playback is not None:
                playback.put(stamp, converted)
                self._drain(playback)
            self.frames += 1
            if self.tap is not None:
                try:
                    self.tap(pcm if self.tap_source else converted)
                except Exception:         # the recording must never stop the call
                    log.exception("audio bridge %s -> %s: recording tap failed; tap removed",
                                  self.source.name, self.target.name)
                    self.tap = None

    def _drain(self, playback) -> None:
        """After a burst (a stall upstream) the buffer stays deeper than needed: shed the excess slowly."""
        if len(playback) > self.target.prefill_frames:
            self._above_target += 1
            if self._above_target >= DRAIN_AFTER_FRAMES and playback.get() is not None:
                self.drained += 1
                self._above_target = 0
        else:
            self._above_target = 0

    def stats(self) -> DirectionStats:
        underruns, dropped = self._counters()
        delays = self.target.delay_percentiles()
        extra_ms = self.resampler.delay_s * 1000.0
        return DirectionStats(self.frames, underruns - self._base[0], dropped - self._base[1],
                              round(delays["delay_median_ms"] + extra_ms, 2),
                              round(delays["delay_p99_ms"] + extra_ms, 2))


class Bridge:
    """Runs one named thread per call moving audio both ways until `stop()`.

    The two devices must use the same frame length; each device's playback queue is the
    jitter buffer (at most 60 ms: underrun plays silence, overrun drops the oldest frame).
    Taps receive audio at the line's rate: `caller_tap` the line's captured frames, `agent_tap`
    the headset's frames as sent to the line. A lost device is reported once through `on_lost`
    (device name, sentence); the other direction keeps running. PCI pauses are the recorder's
    business: nothing here mutes what caller and agent hear.
    """

    def __init__(self, call_key: str, line: AudioDevice, headset: AudioDevice, *,
                 caller_tap: Tap | None = None, agent_tap: Tap | None = None,
                 on_lost: Callable[[str, str], None] | None = None, check_every_s: float = 0.1,
                 clock: Callable[[], float] = time.monotonic):
        for device in (line, headset):
            if device.playback is not None and device.playback.capacity * device.config.frame_ms > MAX_JITTER_MS:
                raise ValueError(f"audio bridge {call_key}: {device.name}'s jitter buffer "
                                 f"{device.playback.capacity * device.config.frame_ms} ms exceeds {MAX_JITTER_MS} ms")
        if line.config.frame_ms != headset.config.frame_ms:
            raise ValueError(f"audio bridge {call_key}: frame lengths differ ({line.name} "
                             f"{line.config.frame_ms} ms, {headset.name} {headset.config.frame_ms} ms)")
        self.call_key = call_key
        self.line, self.headset = line, headset
        self._on_lost = on_lost
        self._check_every_s = check_every_s
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lost: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self._to_agent: _Direction | None = None
        self._to_caller: _Direction | None = None
        self._caller_tap, self._agent_tap = caller_tap, agent_tap

    def start(self) -> None:
        for device in (self.line, self.headset):
            device.attach()
        self._to_agent = _Direction(self.line, self.headset, self._caller_tap, tap_source=True)
        self._to_caller = _Direction(self.headset, self.line, self._agent_tap, tap_source=False)
        for device in (self.line, self.headset):
            if device.capture is not None:
                device.capture.notify = self._wake.set
        self._thread = threading.Thread(target=self._run, name=f"audio-bridge-{self.call_key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_check = self._clock() + self._check_every_s
        while not self._stopping.is_set():
            self._wake.wait(self._check_every_s)
            self._wake.clear()
            self._to_agent.pump()
            self._to_caller.pump()
            now = self._clock()
            if now >= next_check:
                self._check_devices()
                next_check = now + self._check_every_s
        self._to_agent.pump()
        self._to_caller.pump()

    def _check_devices(self) -> None:
        for device in (self.line, self.headset):
            if device.name in self._lost:
                continue
            try:
                device.check()
            except DeviceGone as exc:
                self._lost[device.name] = str(exc)
                log.warning("audio bridge %s: %s", self.call_key, exc)
                if self._on_lost is not None:
                    try:
                        self._on_lost(device.name, str(exc))
                    except Exception:
                        log.exception("audio bridge %s: on_lost handler failed", self.call_key)

    @property
    def lost(self) -> dict[str, str]:
        return dict(self._lost)

    def stats(self) -> BridgeStats:
        if self._to_agent is None:
            raise RuntimeError(f"audio bridge {self.call_key}: not started")
        return BridgeStats(self._to_agent.stats(), self._to_caller.stats(), tuple(self._lost.values()))

    def stop(self) -> BridgeStats:
        """End the bridge (joins its thread; the devices stay open for their owner to close)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join()
            for device in (self.line, self.headset):
                device.detach()
                if device.capture is not None:
                    device.capture.notify = None
        return self.stats()

    def status(self) -> dict:
        out = {"call": self.call_key, "running": self._thread is not None, "lost": self.lost}
        if self._to_agent is not None:
            stats = self.stats()
            out["to_agent"], out["to_caller"] = asdict(stats.to_agent), asdict(stats.to_caller)
        return out
