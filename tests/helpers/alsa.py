"""File-backed ALSA PCMs for tests: a self-contained config (null default) named by ALSA_CONFIG_PATH.

Each PCM is an `asym` of two `file` plugins over `null` slaves: capture reads `infile` (raw mono
S16LE, repeated after its end; silence without one), playback writes `outfile` (a path, or
"|command" to pipe it; a pipe that exits makes the device fail like an unplugged card). These
PCMs are not paced by any clock: open the devices with `paced=True`. PortAudio reads the config
when it starts, so create a fresh AudioHost after `use_alsa_config`.
"""
from __future__ import annotations

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


def use_alsa_config(monkeypatch, directory: Path, pcms: list[FilePcm]) -> Path:
    """Write the config into `directory` and point ALSA_CONFIG_PATH at it for this test."""
    path = Path(directory) / "asound.conf"
    path.write_text(alsa_config_text(pcms))
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(path))
    return path
