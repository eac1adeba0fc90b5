"""Fixtures: real speech (espeak-ng, resampled by sox) and a fresh PortAudio host over file-backed PCMs."""
from __future__ import annotations

import pytest

from appliance.audio.devices import AudioHost
from tests.appliance.audio.audio_support import AGENT_TEXT, CALLER_TEXT, speak
from tests.helpers.alsa import FilePcm, use_alsa_config
from tests.helpers.tmpfs import MOUNT_REFUSED
from tests.helpers.tmpfs import tmpfs as mounted_tmpfs


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """caller/agent phrases at 8 and 16 kHz: speech[("caller", 8000)]."""
    directory = tmp_path_factory.mktemp("speech")
    return {(who, rate): speak(text, rate, directory, who)
            for who, text in (("caller", CALLER_TEXT), ("agent", AGENT_TEXT)) for rate in (8000, 16000)}


@pytest.fixture
def audio_host(monkeypatch, tmp_path):
    """Call with FilePcm entries: writes the ALSA config and yields a fresh AudioHost over it."""
    hosts = []

    def make(*pcms: FilePcm) -> AudioHost:
        use_alsa_config(monkeypatch, tmp_path, list(pcms))
        hosts.append(AudioHost())
        return hosts[-1]

    yield make
    for host in hosts:
        host.close()



@pytest.fixture
def tmpfs(tmp_path):
    """A 2 MiB tmpfs that really fills up (the tests run as root), unmounted afterwards."""
    if MOUNT_REFUSED:
        pytest.skip(MOUNT_REFUSED)
    with mounted_tmpfs(tmp_path / "disk", "2m") as mount:
        yield mount
