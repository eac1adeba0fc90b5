"""One call's recorder thread: frames and PCI commands in, an encrypting sink fed, a Recording out."""
from __future__ import annotations

import collections
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Protocol, Sequence

from appliance.calls.record import Recording, RecordingSegment

from .segments import RecordingFailed, RecordingRefused
from .timeline import AGENT, CALLER, Timeline

log = logging.getLogger(__name__)


class RecordingSink(Protocol):
    """What the recorder writes to: appliance.audio.segments.SegmentWriter."""

    def write(self, pcm: bytes) -> None: ...

    def close(self) -> Sequence[RecordingSegment]: ...


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CallRecorder:
    """Runs a thread named `recorder-<call_key>` from `start()` to `stop()`.

    `caller(pcm)` / `agent(pcm)` hand over mono S16LE at `sample_rate` from any thread and
    never block (the bridge's taps). `pause(by, at)` / `resume(by, at)` mark a PCI window: the
    audio in it is written as silence, the timeline stays whole, and who and when are kept.
    `open_sink` is called on the recorder thread (it creates files), e.g.
    `functools.partial(SegmentWriter, directory, call_key, recipients, sample_rate)`.
    Any sink error (disk full, no valid recipient) ends the recording only: status "truncated"
    when audio was written before it, else "not_recorded", with the error as the reason.
    A backlog of more than `max_backlog_s` (a wedged disk) is such an error too.
    """

    def __init__(self, call_key: str, open_sink: Callable[[], RecordingSink], sample_rate: int, *,
                 vad_mode: int = 2, vad_frame_ms: int = 30, trim_silence_s: float | None = None,
                 block_s: float = 0.1, max_backlog_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 utcnow: Callable[[], datetime] = _utcnow,
                 on_done: Callable[[Recording], None] | None = None):
        self.call_key = call_key
        self.sample_rate = sample_rate
        self._timeline = Timeline(sample_rate, vad_mode=vad_mode, vad_frame_ms=vad_frame_ms,
                                  trim_silence_s=trim_silence_s)
        self._open_sink = open_sink
        self._block_s = block_s
        # ~one item per 20 ms frame and channel; the bound keeps a wedged disk from eating memory
        self._max_items = max(16, int(max_backlog_s * 2 * 1000 / 20))
        self._max_backlog_s = max_backlog_s
        self._clock = clock
        self._utcnow = utcnow
        self._on_done = on_done
        self._inbox: collections.deque = collections.deque()
        self._overflow = False
        self._failed = ""
        self._written = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: Recording | None = None
        self._progress = clock()

    # ---- any thread ----
    def caller(self, pcm: bytes) -> None:
        self._hand_over(CALLER, pcm)

    def agent(self, pcm: bytes) -> None:
        self._hand_over(AGENT, pcm)

    def _hand_over(self, channel: int, pcm: bytes) -> None:
        if self._failed or self._overflow:
            return
        if len(self._inbox) > self._max_items:
            self._overflow = True
            return
        self._inbox.append((channel, pcm))

    def pause(self, by: str, at: datetime | None = None) -> None:
        """PCI pause from the audio received so far on; `at` (default now, UTC) is for the audit."""
        self._inbox.append(("pause", by, at or self._utcnow()))

    def resume(self, by: str, at: datetime | None = None) -> None:
        self._inbox.append(("resume", by, at or self._utcnow()))

    def last_progress(self) -> float:
        """When the thread last finished a pass (`clock` time): the watchdog's progress probe."""
        return self._progress

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"recorder {self.call_key}: already started")
        self._thread = threading.Thread(target=self._run, name=f"recorder-{self.call_key}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> Recording:
        """Flush, close the sink and return the Recording (blocks: keep it off the event loop)."""
        if self._thread is None:
            return self._result or Recording(status="not_recorded", reason="recorder never started",
                                             sample_rate=self.sample_rate, vad_mode=self._timeline.vad_mode)
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"recorder {self.call_key}: still flushing after {timeout} s")
        self._thread = None
        return self._result

    def status(self) -> dict:
        tl = self._timeline
        return {"call": self.call_key, "running": self._thread is not None, "failed": self._failed,
                "written_s": round(self._written / self.sample_rate, 3), "backlog": len(self._inbox),
                "paused": tl.paused, "trimmed_s": round(tl.trimmed / self.sample_rate, 3),
                "padded_s": [round(p / self.sample_rate, 3) for p in tl.padded]}

    # ---- the recorder thread ----
    def _run(self) -> None:
        sink = None
        try:
            sink = self._open_sink()
        except Exception as exc:          # noqa: BLE001 - any sink error ends the recording only
            self._fail(exc, "the recording could not start")
        while True:
            stopping = self._stopping.wait(self._block_s)
            self._drain()
            if self._overflow and not self._failed:
                self._fail(None, f"the recorder fell behind by more than {self._max_backlog_s:g} s")
            if sink is not None and not self._failed:
                self._write(sink, self._timeline.take(final=stopping))
            self._progress = self._clock()
            if stopping:
                break
        self._result = self._finish(sink)
        if self._on_done is not None:
            try:
                self._on_done(self._result)
            except Exception:
                log.exception("recorder %s: on_done handler failed", self.call_key)

    def _drain(self) -> None:
        timeline, inbox = self._timeline, self._inbox
        while inbox:
            item = inbox.popleft()
            kind = item[0]
            if kind == "pause" or kind == "resume":
                done = (timeline.pause if kind == "pause" else timeline.resume)(item[1], item[2])
                log.info("recorder %s: PCI %s by %s at %s%s", self.call_key, kind, item[1],
                         item[2].isoformat(), "" if done else f" ignored (already {kind}d)")
            elif not self._failed:
                timeline.add(kind, item[1])

    def _write(self, sink: RecordingSink, stereo: bytes) -> None:
        if not stereo:
            return
        try:
            sink.write(stereo)
        except Exception as exc:          # noqa: BLE001
            self._fail(exc, "writing the recording failed")
        else:
            self._written += len(stereo) // 4

    def _fail(self, exc: BaseException | None, what: str) -> None:
        if isinstance(exc, (RecordingFailed, RecordingRefused)):
            self._failed = exc.reason           # the writer's own sentence says what and where
        else:
            self._failed = what if exc is None else f"{what}: {exc}"
        if exc is not None and not isinstance(exc, (OSError, RecordingFailed, RecordingRefused)):
            log.error("recorder %s: %s", self.call_key, self._failed, exc_info=exc)
        else:
            log.warning("recorder %s: %s; the call goes on unrecorded", self.call_key, self._failed)

    def _finish(self, sink: RecordingSink | None) -> Recording:
        segments: Sequence[RecordingSegment] = ()
        if sink is not None:
            try:
                segments = sink.close()
            except Exception as exc:      # noqa: BLE001
                if not self._failed:
                    self._fail(exc, "closing the recording failed")
                segments = getattr(exc, "segments", None) or getattr(sink, "segments", ())
        tl, rate, written = self._timeline, self.sample_rate, self._written
        if self._failed and segments:       # what can be decrypted, up to the cut segment's last whole chunk
            written = sum(seg.samples for seg in segments)
        if not self._failed:
            status = "recorded"
        else:
            status = "truncated" if written > 0 else "not_recorded"
        caller, agent = tl.speech(CALLER, written), tl.speech(AGENT, written)
        ratio = lambda ranges: round(sum(b - a for a, b in ranges) / written, 4) if written else 0.0  # noqa: E731
        return Recording(status=status, reason=self._failed, sample_rate=rate, samples=written,
                         segments=tuple(segments),
                         caller_speech_ratio=ratio(caller), caller_speech=caller,
                         agent_speech_ratio=ratio(agent), agent_speech=agent,
                         talk_over_s=round(tl.talk_over(written) / rate, 3),
                         pci_pauses=tl.pauses(written), vad_mode=tl.vad_mode,
                         trimmed_s=round(tl.trimmed / rate, 3))

