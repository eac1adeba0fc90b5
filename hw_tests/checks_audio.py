"""audio:<name>: an ALSA PCM opens at its rate, a short capture has signal, voice activity detection runs."""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from appliance.audio.devices import AudioDeviceConfig, AudioHost
from appliance.audio.vad import analyse
from firmware_bridge.exceptions import DeviceError, DeviceGone

from .result import CheckResult, Finding, Status, combine, failed

NOISE_FLOOR_DBFS = -75.0        # quieter than this over the whole capture: nothing is connected
CONSTANT_SPEECH_RATIO = 0.9     # "speech" nearly all the time ...
STEADY_LEVEL_DB = 3.0           # ... at a level that hardly moves (speech swings 10 dB and more): hum or noise


def _level_dbfs(pcm: np.ndarray) -> float:
    if not len(pcm):
        return float("-inf")
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    return 20 * np.log10(rms / 32768.0) if rms > 0 else float("-inf")


def check_audio(name: str, pcm: str, rate: int, *, capture_s: float = 1.0, paced: bool = False,
                playback: bool = True, vad_mode: int = 2, timeout_s: float = 5.0,
                host_factory: Callable[[], AudioHost] = AudioHost) -> CheckResult:
    """Open `pcm` as the daemon would (mono S16LE at `rate`), capture `capture_s` and judge it."""
    check = f"audio:{name}"
    try:
        config = AudioDeviceConfig(name=name, pcm=pcm, rate=rate, playback=playback, paced=paced)
    except ValueError as exc:
        return failed(check, str(exc), "fix the audio settings of this device in the config")
    try:
        host = host_factory()
    except DeviceError as exc:
        return failed(check, str(exc), "check that the ALSA libraries are installed and /etc/asound.conf parses "
                                       "(`aplay -L` lists the PCMs)")
    try:
        return _capture_and_judge(check, host, config, capture_s, vad_mode, timeout_s)
    finally:
        host.close()


def _capture_and_judge(check: str, host: AudioHost, config: AudioDeviceConfig, capture_s: float,
                       vad_mode: int, timeout_s: float) -> CheckResult:
    try:
        device = host.open(config)
    except DeviceError as exc:
        return failed(check, str(exc), "is the card plugged in (`arecord -l`)? is the PCM name right (`arecord -L`)? "
                                       "a card in use by the running daemon cannot be opened twice")
    wanted = int(capture_s * config.rate)
    frames: list[bytes] = []
    arrived = threading.Event()
    with device:
        device.capture.notify = arrived.set
        deadline = time.monotonic() + timeout_s
        while sum(len(f) for f in frames) // 2 < wanted:
            arrived.wait(0.1)
            arrived.clear()
            while (item := device.capture.get()) is not None:
                frames.append(item[1])
            try:
                device.check()
            except DeviceGone as exc:
                return failed(check, str(exc), "unplug and replug the device; `dmesg` shows USB audio errors")
            if time.monotonic() > deadline:
                got = sum(len(f) for f in frames) // 2 / config.rate
                return failed(check, f"{config.pcm} gave {got:.2f} s of audio in {timeout_s:g} s "
                                     f"(wanted {capture_s:g} s at {config.rate} Hz)",
                              "the card does not run at this rate or stalls: try the other rate (8000/16000), "
                              "or put a `plug` PCM in front of it in /etc/asound.conf")
    audio = np.frombuffer(b"".join(frames), dtype="<i2")[:wanted]
    return combine(check, [Finding(Status.PASS, f"{config.pcm} open at {config.rate} Hz"),
                           _level(audio), _vad(audio, config.rate, vad_mode)])


def _level(audio: np.ndarray) -> Finding:
    level = _level_dbfs(audio)
    if level < NOISE_FLOOR_DBFS:
        shown = "digital silence" if level == float("-inf") else f"{level:.0f} dBFS"
        return Finding(Status.WARN, f"capture is silent ({shown})",
                       "nothing reaches the input: check the cable or headset plug, the capture switch "
                       "and gain (`alsamixer -c N`, F4), and that the line's audio mode is on")
    peak = int(np.max(np.abs(audio.astype(np.int32))))
    if peak >= 32767:
        return Finding(Status.WARN, f"capture level {level:.0f} dBFS, clipping",
                       "lower the capture gain in `alsamixer` until the peaks stay below full scale")
    return Finding(Status.PASS, f"capture level {level:.0f} dBFS")


def _level_swing_db(audio: np.ndarray, rate: int) -> float:
    """Standard deviation of the 30 ms frame levels: near 0 for hum and steady noise."""
    size = rate * 30 // 1000
    frames = audio[:len(audio) // size * size].astype(np.float64).reshape(-1, size)
    if len(frames) < 2:
        return 0.0
    return float(np.std(10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-3)))


def _vad(audio: np.ndarray, rate: int, mode: int) -> Finding:
    activity = analyse(audio.tobytes(), rate, mode=mode)
    if activity.ratio >= CONSTANT_SPEECH_RATIO and _level_dbfs(audio) >= NOISE_FLOOR_DBFS \
            and _level_swing_db(audio, rate) < STEADY_LEVEL_DB:
        return Finding(Status.WARN, f"voice activity {activity.ratio:.0%} of the capture on a steady level",
                       "the input carries hum or noise that is taken for speech: check earthing and gain, "
                       "or raise vad_mode")
    return Finding(Status.PASS, f"voice activity {activity.ratio:.0%} (vad mode {mode})")
