"""Audio path figures: recorder (VAD + age + write) × real time, CPU per live bridged call, calls per core, delay.

Live calls run on the package's virtual (file-backed, paced) PCMs through real PyAudio + ALSA:
a line at 8 kHz and a headset at 16 kHz per call (resampling both ways), bridged and recorded.
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from appliance.audio.age import Identity
from appliance.audio.bridge import Bridge
from appliance.audio.devices import AudioDeviceConfig, AudioHost
from appliance.audio.recorder import CallRecorder
from appliance.audio.resample import Resampler
from appliance.audio.segments import SegmentWriter
from appliance.audio.timeline import AGENT, CALLER, Timeline
from appliance.audio.virtual import FilePcm, write_alsa_config

RATE = 8000
TEXT = ("Hello, I am calling about my order. It has not arrived yet. Thank you for calling, "
        "let me check that order for you, it will only take a moment.")


def speech(directory: Path, rate: int) -> np.ndarray:
    wav, raw = directory / "speech.wav", directory / f"speech-{rate}.raw"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), TEXT], check=True)
    subprocess.run(["sox", str(wav), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
                    "-t", "raw", str(raw)], check=True)
    return np.fromfile(raw, dtype="<i2")


def call_audio(phrase: np.ndarray, seconds: float, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Caller and agent channels of `seconds`: the phrase repeated with pauses, the agent offset."""
    unit = np.concatenate((phrase, np.zeros(RATE, dtype="<i2")))
    reps = int(seconds * RATE / len(unit)) + 2
    stream = np.tile(unit, reps)
    n = int(seconds * RATE)
    return stream[:n], stream[lag:lag + n]


def bench_recorder(directory: Path, phrase: np.ndarray, seconds: float) -> None:
    caller, agent = call_audio(phrase, seconds, RATE * 3)
    frame = RATE // 50
    recipient = str(Identity.generate().recipient)

    def timeline_only() -> None:
        tl = Timeline(RATE, vad_mode=2)
        for i in range(0, len(caller), 5 * frame):          # the recorder's 100 ms passes
            for j in range(i, min(i + 5 * frame, len(caller)), frame):
                tl.add(CALLER, caller[j:j + frame].tobytes())
                tl.add(AGENT, agent[j:j + frame].tobytes())
            tl.take()
        tl.take(final=True)

    def recorder(fsync: bool, name: str) -> None:
        rec = CallRecorder(name, partial(SegmentWriter, directory / name, name, [recipient], RATE, fsync=fsync),
                           RATE, block_s=0.05, max_backlog_s=seconds * 2)
        rec.start()
        for j in range(0, len(caller), frame):
            rec.caller(caller[j:j + frame].tobytes())
            rec.agent(agent[j:j + frame].tobytes())
        rec.stop()

    print(f"\n-- recorder: one {seconds:.0f} s 8 kHz two-channel call of speech, 20 ms frames")
    for label, run in (("align + VAD (Timeline)", timeline_only),
                       ("recorder thread: align + VAD + age + write, fsync", partial(recorder, True, "fsync")),
                       ("recorder thread: align + VAD + age + write, no fsync", partial(recorder, False, "nofsync"))):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        print(f"{label:<56} cpu {cpu:6.2f} s  {seconds / max(cpu, 1e-9):7.0f}x real time per core  "
              f"(wall {wall:5.2f} s)")


class LiveCall:
    def __init__(self, host: AudioHost, index: int, directory: Path, recipient: str, headset_rate: int):
        key = f"bench/{index}"
        self.line = host.open(AudioDeviceConfig(f"line{index}", f"line{index}", 8000, paced=True))
        self.headset = host.open(AudioDeviceConfig(f"headset{index}", f"headset{index}{headset_rate}",
                                                    headset_rate, paced=True))
        self.recorder = CallRecorder(key, partial(SegmentWriter, directory / str(index), key, [recipient], RATE), RATE)
        self.bridge = Bridge(key, self.line, self.headset, caller_tap=self.recorder.caller,
                             agent_tap=self.recorder.agent)

    def start(self) -> None:
        self.recorder.start()
        self.bridge.start()

    def stop(self):
        stats = self.bridge.stop()
        recording = self.recorder.stop()
        delays = list(self.headset.delays) + list(self.line.delays)
        late = self.line.late_resets + self.headset.late_resets
        self.line.close()
        self.headset.close()
        return stats, recording, delays, late


def virtual_pcms(directory: Path, most: int) -> None:
    """line<i> captures the phrase at 8 kHz, headset<i>8000 / headset<i>16000 at those rates."""
    for rate in (8000, 16000):
        (directory / f"speech{rate}.raw").write_bytes(speech(directory, rate).tobytes())
    pcms = []
    for i in range(most):
        pcms += [FilePcm(f"line{i}", directory / "speech8000.raw"),
                 FilePcm(f"headset{i}8000", directory / "speech8000.raw"),
                 FilePcm(f"headset{i}16000", directory / "speech16000.raw")]
    os.environ["ALSA_CONFIG_PATH"] = str(write_alsa_config(directory / "asound.conf", pcms))


def bench_live(host: AudioHost, directory: Path, counts: list[int], seconds: float, headset_rate: int) -> None:
    recipient = str(Identity.generate().recipient)
    how = "frames handed on in the callbacks" if headset_rate == RATE else "resampled on the audio-bridges thread"
    print(f"\n-- live calls: line 8 kHz + headset {headset_rate // 1000} kHz ({how}), bridged and recorded "
          f"(fsync), {seconds:g} s each run, on CPU(s) {sorted(os.sched_getaffinity(0))}")
    print(f"{'calls':>5}  {'cpu/call':>9}  {'underruns':>9}  {'dropped':>7}  {'late':>4}  {'lost':>4}  {'recorded':>9}  "
          f"{'delay median':>12}  {'delay p99':>9}")
    for run, count in enumerate(counts):
        calls = [LiveCall(host, i, directory / f"rec{headset_rate}-{run}", recipient, headset_rate)
                 for i in range(count)]
        for call in calls:
            call.start()
        time.sleep(1.0)                                   # settle: start-up is not steady state
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        results = [call.stop() for call in calls]
        underruns = sum(s.to_agent.underruns + s.to_caller.underruns for s, _, _, _ in results)
        dropped = sum(s.to_agent.dropped + s.to_caller.dropped for s, _, _, _ in results)
        late = sum(r[3] for r in results)
        lost = sum(len(s.lost) for s, _, _, _ in results)
        recorded = statistics.mean(r.samples / RATE for _, r, _, _ in results)
        filter_s = Resampler(RATE, headset_rate).delay_s       # the converting filter's own delay
        delays = sorted(d + filter_s for _, _, ds, _ in results for d in ds)
        median = delays[len(delays) // 2] * 1000 if delays else 0.0
        p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))] * 1000 if delays else 0.0
        print(f"{count:>5}  {100 * cpu / wall / count:>8.2f}%  {underruns:>9}  {dropped:>7}  {late:>4}  {lost:>4}  "
              f"{recorded:>8.1f}s  {median:>10.1f}ms  {p99:>7.1f}ms", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="recorder benchmark: call length (default 600 s)")
    parser.add_argument("--calls", default="1,50,100,150", help="live runs, headset at 8 kHz: concurrent calls")
    parser.add_argument("--calls16", default="1,25,50,100", help="live runs, headset at 16 kHz: concurrent calls")
    parser.add_argument("--live-seconds", type=float, default=10.0, help="length of each live run")
    parser.add_argument("--cpu", type=int, default=0, help="pin the process to this CPU (-1: no pinning)")
    parser.add_argument("--dir", default=None, help="where to write recordings (default: a temp dir)")
    parser.add_argument("--group-nice", type=int, default=None,
                        help="nice value for this process's scheduler autogroup (root; e.g. -10 so other "
                             "jobs on a shared box do not take the audio's CPU share)")
    args = parser.parse_args()
    autogroup = Path("/proc/self/autogroup")
    before = autogroup.read_text().split()[-1] if autogroup.exists() else None
    if args.group_nice is not None:        # the whole session's group: set back at the end
        autogroup.write_text(str(args.group_nice))
    try:
        return run(args)
    finally:
        if args.group_nice is not None and before is not None:
            autogroup.write_text(before)


def run(args) -> int:
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})                   # threads started from here inherit it
    logging.basicConfig(level=logging.ERROR)                  # overload shows in the table, not as log lines
    autogroup = Path("/proc/self/autogroup")
    group = autogroup.read_text().strip() if autogroup.exists() else "-"
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; scheduler group {group}")
    runs = {8000: [int(c) for c in args.calls.split(",") if c], 16000: [int(c) for c in args.calls16.split(",") if c]}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        bench_recorder(directory, speech(directory, RATE), args.seconds)
        virtual_pcms(directory, max(max(r, default=0) for r in runs.values()))
        with AudioHost() as host:
            for rate, counts in runs.items():
                if counts:
                    bench_live(host, directory, counts, args.live_seconds, rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
