"""ALSA PCMs through PyAudio in callback mode: the callback copies frames to and from bounded queues."""
from __future__ import annotations

import collections
import ctypes
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pyaudio

from firmware_bridge.exceptions import DeviceError, DeviceGone, DeviceNotFound

log = logging.getLogger(__name__)

RATES = (8000, 16000)
FRAME_MS = (10, 20, 30)          # frame sizes webrtcvad accepts, so a device frame is also a VAD frame
SAMPLE_BYTES = 2                 # mono S16LE
STALL_S = 1.0                    # no callback for this long while open: the device is gone

# PyAudio enters Python from PortAudio's thread with PyGILState_Ensure and leaves with Release,
# which creates and destroys a Python thread state on every callback (half the callback's CPU).
# One extra Ensure on the first callback keeps that thread state for the stream's life; the
# callback gives it back (Release) when the device closes.
_ensure_thread_state = ctypes.pythonapi.PyGILState_Ensure
_ensure_thread_state.restype = ctypes.c_int
_release_thread_state = ctypes.pythonapi.PyGILState_Release
_release_thread_state.argtypes = [ctypes.c_int]


@dataclass(frozen=True)
class AudioDeviceConfig:
    """One audio endpoint (a line's voice channel or a headset).

    `pcm` is the ALSA PCM name as PortAudio lists it: a PCM defined in the ALSA configuration
    (recommended: `pcm.line1 { type plug; slave.pcm "hw:EC25AUX" }` in /etc/asound.conf) or a
    card's "(hw:N,M)" entry. `paced` (config key `audio_paced = true`) is for file-backed PCMs
    (the ALSA `file` plugin over a `null` slave), which run as fast as they are read: the
    callback then waits for the wall clock after each period, standing in for a sound card's
    clock, so a 6 s call moves 6 s of audio. Real cards leave it false.
    """
    name: str
    pcm: str
    rate: int = 8000
    capture: bool = True
    playback: bool = True
    paced: bool = False
    frame_ms: int = 20
    playback_buffer_ms: int = 60     # the jitter buffer's bound: frames waiting to be played
    playback_prefill_ms: int = 20    # cushion: a feed starts playing once a frame plus this much is queued
    capture_buffer_ms: int = 200     # frames captured and not yet taken by the owner

    def __post_init__(self):
        where = f"audio device {self.name}"
        if self.rate not in RATES:
            raise ValueError(f"{where}: rate {self.rate} Hz is not supported (use one of {RATES})")
        if self.frame_ms not in FRAME_MS:
            raise ValueError(f"{where}: frame_ms {self.frame_ms} must be one of {FRAME_MS}")
        if not (self.capture or self.playback):
            raise ValueError(f"{where}: neither capture nor playback is enabled")
        for label, ms in (("playback_buffer_ms", self.playback_buffer_ms),
                          ("capture_buffer_ms", self.capture_buffer_ms)):
            if ms < self.frame_ms:
                raise ValueError(f"{where}: {label} {ms} is shorter than one frame ({self.frame_ms} ms)")
        if not 0 <= self.playback_prefill_ms < self.playback_buffer_ms:
            raise ValueError(f"{where}: playback_prefill_ms {self.playback_prefill_ms} must be at least 0 "
                             f"and below playback_buffer_ms {self.playback_buffer_ms}")

    @property
    def frame_samples(self) -> int:
        return self.rate * self.frame_ms // 1000


class FrameQueue:
    """Bounded FIFO of (capture time, pcm) frames between a callback and one other thread.

    A full queue drops its oldest frame (counted in `dropped`). deque append/popleft are atomic
    in CPython, so neither side takes a lock; `notify` (if set) is called after every put.
    """

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self._frames: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=self.capacity)
        self.dropped = 0
        self.notify: Callable[[], None] | None = None

    def put(self, stamp: float, pcm: bytes) -> None:
        if len(self._frames) >= self.capacity:
            self.dropped += 1
        self._frames.append((stamp, pcm))
        notify = self.notify
        if notify is not None:
            notify()

    def get(self) -> tuple[float, bytes] | None:
        try:
            return self._frames.popleft()
        except IndexError:
            return None

    def clear(self) -> None:
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)


class AudioDevice:
    """An open PCM: `capture` fills with the device's frames, `playback` is drained into it.

    Playback frames must be `frame_bytes` long; an empty playback queue plays silence and counts
    an underrun. Each played frame's age (its capture time to now) goes into `delays`.
    """

    def __init__(self, config: AudioDeviceConfig, clock: Callable[[], float],
                 sleep: Callable[[float], None]):
        self.config = config
        self.name = config.name
        self.rate = config.rate
        self.frame_samples = config.frame_samples
        self.frame_bytes = self.frame_samples * SAMPLE_BYTES
        frames = lambda ms: -(-ms // config.frame_ms)  # noqa: E731  (ceil)
        self.capture = FrameQueue(frames(config.capture_buffer_ms)) if config.capture else None
        self.playback = FrameQueue(frames(config.playback_buffer_ms)) if config.playback else None
        self.prefill_frames = 1 + frames(config.playback_prefill_ms)   # queued before a feed plays
        self.underruns = 0
        self.callbacks = 0
        self.late_resets = 0
        self.delays: collections.deque[float] = collections.deque(maxlen=2000)
        self.lost: str = ""
        # A handover that replaces the capture queue (the bridge, at equal rates). It runs in the
        # PortAudio callback, so it may only pass the frame on, never compute.
        self.on_capture: Callable[[float, bytes], None] | None = None
        self.first_callback: float | None = None   # clock time of the stream's first period
        self._expecting = False          # someone feeds playback: an empty queue is an underrun
        self._primed = False             # ... once the first frame of that feed was played
        self._silence = bytes(self.frame_bytes)
        self._clock = clock
        self._sleep = sleep
        self._stream = None
        self._closing = False
        self._thread_state: int | None = None      # the extra PyGILState hold of the stream's thread
        self._let_go = threading.Event()
        self._last_callback = clock()
        self._pace_start: float | None = None
        self._paced_frames = 0

    # ---- the PortAudio thread: copy, hand over, (paced) wait for the clock; never compute ----
    def _callback(self, in_data, frame_count, time_info, status):
        if self._closing:                        # give the thread state back once, and end the stream
            if self._thread_state is not None and not self._let_go.is_set():
                _release_thread_state(self._thread_state)
                self._let_go.set()
            self.callbacks += 1
            return bytes(frame_count * SAMPLE_BYTES) if self.playback is not None else None, pyaudio.paComplete
        if self._thread_state is None:
            self._thread_state = _ensure_thread_state()
        now = self._clock()
        if self.first_callback is None:
            self.first_callback = now
        self._last_callback = now
        self.callbacks += 1
        if in_data is not None and self.capture is not None:
            handover = self.on_capture
            if handover is not None:
                handover(now, in_data)
            else:
                self.capture.put(now, in_data)
        out = None
        if self.playback is not None:
            waiting = self._expecting and not self._primed and len(self.playback) < self.prefill_frames
            item = None if waiting else self.playback.get()
            if item is None or len(item[1]) != frame_count * SAMPLE_BYTES:
                if self._primed:
                    self.underruns += 1
                out = self._silence if frame_count == self.frame_samples else bytes(frame_count * SAMPLE_BYTES)
            else:
                self.delays.append(now - item[0])
                self._primed = self._expecting
                out = item[1]
        if self.config.paced:
            self._pace(now, frame_count)
        return out, pyaudio.paContinue

    def _pace(self, now: float, frames: int) -> None:
        if self._pace_start is None:
            self._pace_start = now
        self._paced_frames += frames
        wait = self._pace_start + self._paced_frames / self.rate - self._clock()
        if wait > 0:
            self._sleep(wait)
        elif wait < -0.2:            # far behind (an overloaded box): restart the clock, like an xrun
            self.late_resets += 1
            self._pace_start, self._paced_frames = self._clock(), 0

    # ---- the owner ----
    def attach(self) -> None:
        """A bridge starts using the device: stale frames both ways are dropped, delays restart.

        Underruns count from the first frame the bridge gets played until `detach()`; silence
        before it (nothing sent yet) or after (no call) is not a gap.
        """
        self.delays.clear()
        for queue in (self.capture, self.playback):
            if queue is not None:
                queue.clear()
        self._expecting, self._primed = True, False

    def detach(self) -> None:
        self._expecting, self._primed = False, False

    def check(self) -> None:
        """Raise DeviceGone once the device stopped by itself or stalled (the owner reports it)."""
        if self.lost:
            raise DeviceGone(self.lost)
        stream = self._stream
        if stream is None or self._closing:
            return
        try:
            active = stream.is_active()
        except OSError as exc:
            active, why = False, str(exc)
        else:
            why = "the stream stopped by itself (unplugged, or an I/O error; ALSA says why in the log)"
        if active and self._clock() - self._last_callback > STALL_S:
            active, why = False, f"no audio for {self._clock() - self._last_callback:.1f} s"
        if not active and not self._closing:     # (closed meanwhile by its owner: not lost)
            self.lost = f"audio device {self.name} (pcm {self.config.pcm}) lost: {why}"
            raise DeviceGone(self.lost)

    def delay_percentiles(self) -> dict[str, float]:
        """Queued delay of played frames (capture callback -> playback callback), in ms."""
        values = sorted(self.delays)
        if not values:
            return {"delay_median_ms": 0.0, "delay_p99_ms": 0.0}
        pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] * 1000.0  # noqa: E731
        return {"delay_median_ms": round(pick(0.5), 2), "delay_p99_ms": round(pick(0.99), 2)}

    def status(self) -> dict:
        out = {"name": self.name, "pcm": self.config.pcm, "rate": self.rate, "paced": self.config.paced,
               "open": self._stream is not None, "lost": self.lost, "callbacks": self.callbacks,
               "underruns": self.underruns, "late_resets": self.late_resets,
               "capture_dropped": self.capture.dropped if self.capture else 0,
               "playback_dropped": self.playback.dropped if self.playback else 0}
        out.update(self.delay_percentiles())
        return out

    def close(self) -> None:
        """Stop and close the stream (waits for a running callback); idempotent, never raises."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._closing = True
        if self._thread_state is not None:       # the next callback lets its thread state go, then ends
            self._let_go.wait(max(0.1, 5 * self.config.frame_ms / 1000))
        for step in (stream.stop_stream, stream.close):
            try:
                step()
            except OSError as exc:       # a lost device refuses to stop: nothing more to do
                log.debug("audio device %s: %s: %s", self.name, step.__name__, exc)

    def __enter__(self) -> "AudioDevice":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AudioHost:
    """One PortAudio session over ALSA. The ALSA configuration (ALSA_CONFIG_PATH or the system's)
    is read when it starts; open every device of the process from one host."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()     # PortAudio's open/close are not thread-safe
        try:
            self._pa = pyaudio.PyAudio()
            self._alsa = self._pa.get_host_api_info_by_type(pyaudio.paALSA)["index"]
        except (OSError, IOError) as exc:
            raise DeviceError(f"audio: PortAudio/ALSA cannot start: {exc}") from None

    def pcm_names(self) -> list[str]:
        with self._lock:
            return [info["name"] for info in self._infos()]

    def _infos(self) -> list[dict]:
        out = []
        for i in range(self._pa.get_device_count()):
            info = self._pa.get_device_info_by_index(i)
            if info["hostApi"] == self._alsa:
                out.append(info)
        return out

    def _find(self, config: AudioDeviceConfig) -> dict:
        infos = self._infos()
        exact = [i for i in infos if i["name"] == config.pcm]
        if not exact:     # a card as PortAudio names it: "USB Audio Device: - (hw:1,0)"
            exact = [i for i in infos if i["name"].endswith(f"({config.pcm})")]
        if len(exact) != 1:
            known = ", ".join(i["name"] for i in infos) or "none"
            raise DeviceNotFound(f"audio device {config.name}: no ALSA PCM named {config.pcm!r} "
                                 f"(PCMs: {known}); is the card plugged in, or the PCM defined?")
        info = exact[0]
        for wanted, key, what in ((config.capture, "maxInputChannels", "capture"),
                                  (config.playback, "maxOutputChannels", "playback")):
            if wanted and info[key] < 1:
                raise DeviceNotFound(f"audio device {config.name}: PCM {config.pcm!r} has no {what}")
        return info

    def open(self, config: AudioDeviceConfig) -> AudioDevice:
        """Open and start the PCM (mono S16LE, `config.rate`, one callback per frame)."""
        device = AudioDevice(config, self._clock, self._sleep)
        with self._lock:
            index = self._find(config)["index"]
            try:
                device._stream = self._pa.open(
                    rate=config.rate, channels=1, format=pyaudio.paInt16,
                    input=config.capture, output=config.playback,
                    input_device_index=index if config.capture else None,
                    output_device_index=index if config.playback else None,
                    frames_per_buffer=config.frame_samples, stream_callback=device._callback)
            except (OSError, ValueError) as exc:
                raise DeviceNotFound(f"audio device {config.name}: PCM {config.pcm!r} cannot be "
                                     f"opened at {config.rate} Hz mono S16LE: {exc}") from None
        log.info("audio device %s: pcm %s open at %d Hz%s", config.name, config.pcm, config.rate,
                 " (paced)" if config.paced else "")
        return device

    def close(self) -> None:
        with self._lock:
            pa, self._pa = self._pa, None
            if pa is not None:
                pa.terminate()

    def __enter__(self) -> "AudioHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
