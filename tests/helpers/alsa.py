"""File-backed ALSA PCMs for a test: the package's virtual audio config, named by ALSA_CONFIG_PATH.

See appliance/audio/virtual.py for what each PCM does. PortAudio reads the config when it starts,
so create a fresh AudioHost (a fresh PyAudio) after `use_alsa_config`.
"""
from __future__ import annotations

from pathlib import Path

from appliance.audio.virtual import FilePcm, write_alsa_config

__all__ = ["FilePcm", "use_alsa_config"]


def use_alsa_config(monkeypatch, directory: Path, pcms: list[FilePcm]) -> Path:
    """Write the config into `directory` and point ALSA_CONFIG_PATH at it for this test."""
    path = write_alsa_config(Path(directory) / "asound.conf", list(pcms))
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(path))
    return path
