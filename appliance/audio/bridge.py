"""One call's two-way audio: line capture -> headset playback and headset capture -> line playback."""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Callable

from firmware_bridge.exceptions import DeviceGone

from .devices import AudioDevice
from .resample import Resampler

log = logging.getLogger(__name__)

MAX_JITTER_MS = 60
CHECK_EVERY_S = 0.1         # how often the devices of running bridges are checked for loss
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
    """Moves one device's captured frames to another's playback and to a recording tap.

    Equal rates need no computing: the frame is handed straight on from the source's PortAudio
    callback (`forward`), so no thread wakes per frame. Different rates are converted on the
    audio-bridges thread (`pump`), woken through the source's capture queue.
    """

    def __init__(self, source: AudioDevice, target: AudioDevice, tap: Tap | None, tap_source: bool):
        self.source, self.target = source, target
        self.resampler = Resampler(source.rate, target.rate)
        self.direct = source.rate == target.rate
        self.active = True
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

    def connect(self, wake: Callable[[], None]) -> None:
        if self.direct:
            self.source.on_capture = self.forward
        elif self.source.capture is not None:
            self.source.capture.notify = wake

    def disconnect(self) -> None:
        self.active = False
        self.source.on_capture = None
        if self.source.capture is not None:
            self.source.capture.notify = None

    def pump(self) -> None:
        capture = self.source.capture
        if capture is None or self.direct or not self.active:
            return
        while (item := capture.get()) is not None:
            stamp, pcm = item
            self._deliver(stamp, pcm, self.resampler.process(pcm))

    def forward(self, stamp: float, pcm: bytes) -> None:
        self._deliver(stamp, pcm, pcm)

    def _deliver(self, stamp: float, pcm: bytes, converted: bytes) -> None:
        playback = self.target.playback
        if playback is not None:
            playback.put(stamp, converted)
            self._drain(playback)
        self.frames += 1
        if self.tap is not None:
            try:
                self.tap(pcm if self.tap_source else converted)
            except Exception:             # the recording must never stop the call
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


class _Worker:
    """The one thread ("audio-bridges") serving every running bridge: it converts frames between
    rates as they arrive and checks the devices every CHECK_EVERY_S. It starts with the first
    bridge and ends with the last, so an idle process has no audio thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._bridges: set[Bridge] = set()
        self._thread: threading.Thread | None = None
        self._tokens: queue.SimpleQueue | None = None

    def add(self, bridge: "Bridge") -> Callable[[object], None]:
        """Register a bridge; returns `put(direction)`, the wake-up for a frame captured in a direction."""
        with self._lock:
            self._bridges.add(bridge)
            if self._thread is None:
                self._tokens = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, args=(self._tokens,), name="audio-bridges",
                                                daemon=True)
                self._thread.start()
            tokens = self._tokens
        return tokens.put

    def remove(self, bridge: "Bridge") -> None:
        with self._lock:
            self._bridges.discard(bridge)
            if self._bridges or self._thread is None:
                return
            thread, tokens, self._thread = self._thread, self._tokens, None
        tokens.put(_STOP)
        thread.join()

    def _run(self, tokens: queue.SimpleQueue) -> None:
        next_check = time.monotonic() + CHECK_EVERY_S
        while True:
            try:
                token = tokens.get(timeout=CHECK_EVERY_S)
            except queue.Empty:
                token = None
            if token is _STOP:
                return
            if token is not None:
                token.pump()
            now = time.monotonic()
            if now >= next_check:
                with self._lock:
                    bridges = list(self._bridges)
                for bridge in bridges:
                    bridge.check_devices()
                next_check = now + CHECK_EVERY_S


_STOP = object()
_worker = _Worker()


class Bridge:
    """Moves one call's audio both ways from `start()` to `stop()`.

    At equal rates the PortAudio callbacks hand frames straight on; at different rates the
    shared "audio-bridges" thread converts each frame as it arrives. The two devices must use
    the same frame length; each device's playback queue is the jitter buffer (at most 60 ms:
    underrun plays silence, overrun drops the oldest frame). Taps receive audio at the line's
    rate: `caller_tap` the line's captured frames, `agent_tap` the headset's frames as sent to
    the line; they must only hand over (CallRecorder.caller/agent do). A lost device is reported
    once through `on_lost(device name, sentence)`, called on the audio-bridges thread; the other
    direction keeps running. PCI pauses are the recorder's business: nothing here mutes what
    caller and agent hear.
    """

    def __init__(self, call_key: str, line: AudioDevice, headset: AudioDevice, *,
                 caller_tap: Tap | None = None, agent_tap: Tap | None = None,
                 on_lost: Callable[[str, str], None] | None = None):
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
        self._lost: dict[str, str] = {}
        self._running = False
        self._to_agent: _Direction | None = None
        self._to_caller: _Direction | None = None
        self._caller_tap, self._agent_tap = caller_tap, agent_tap

    def start(self) -> None:
        if self._running:
            raise RuntimeError(f"audio bridge {self.call_key}: already started")
        for device in (self.line, self.headset):
            device.attach()
        self._to_agent = _Direction(self.line, self.headset, self._caller_tap, tap_source=True)
        self._to_caller = _Direction(self.headset, self.line, self._agent_tap, tap_source=False)
        wake = _worker.add(self)
        for direction in (self._to_agent, self._to_caller):
            direction.connect(partial(wake, direction))
        self._running = True

    def check_devices(self) -> None:
        """Report devices lost since the last look (the worker calls this every CHECK_EVERY_S)."""
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
        """End the bridge (the devices stay open for their owner to close); idempotent."""
        if self._running:
            self._running = False
            for direction in (self._to_agent, self._to_caller):
                direction.disconnect()
            _worker.remove(self)
            for device in (self.line, self.headset):
                device.detach()
        return self.stats()

    def status(self) -> dict:
        out = {"call": self.call_key, "running": self._running, "lost": self.lost}
        if self._to_agent is not None:
            stats = self.stats()
            out["to_agent"], out["to_caller"] = asdict(stats.to_agent), asdict(stats.to_caller)
        return out
