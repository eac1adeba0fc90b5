"""Virtual audio devices: an ALSA configuration of file-backed PCMs, for the demo, tests and benchmarks.

Each PCM is an `asym` of two `file` plugins over `null` slaves: capture reads `infile` (raw mono
S16LE, repeated after its end; silence without one), playback writes `outfile` (a path, or
"|command" to pipe it; a pipe that exits makes the device fail like an unplugged card). Nothing
paces these PCMs: open them with `paced=True` (config `audio_paced = true`). Point
ALSA_CONFIG_PATH at the written file before the AudioHost starts (PortAudio reads it then).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FilePcm:
    name: str
    infile: Path | None = None
    outfile: Path | str | None = None


def _quote(value) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def alsa_config_text(pcms: list[FilePcm]) -> str:
    # Without a default PCM, PortAudio's device enumeration aborts (BuildDeviceList assertion).
    lines = ["pcm.!default { type null }"]
    for pcm in pcms:
        infile = f" infile {_quote(pcm.infile)};" if pcm.infile is not None else ""
        outfile = _quote(pcm.outfile if pcm.outfile is not None else "/dev/null")
        lines += [
            f'pcm.{pcm.name}_capture {{ type file; slave.pcm {{ type null }};{infile} file "/dev/null"; format "raw" }}',
            f'pcm.{pcm.name}_playback {{ type file; slave.pcm {{ type null }}; file {outfile}; format "raw" }}',
            f'pcm.{pcm.name} {{ type asym; capture.pcm "{pcm.name}_capture"; playback.pcm "{pcm.name}_playback" }}',
        ]
    return "\n".join(lines) + "\n"


def write_alsa_config(path: Path, pcms: list[FilePcm]) -> Path:
    """Write the configuration (0600) and return its path, for ALSA_CONFIG_PATH."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(alsa_config_text(pcms))
    return path
