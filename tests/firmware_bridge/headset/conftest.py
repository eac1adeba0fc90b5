"""Headset tests: sockets and threads they open must be closed; an injected clock."""
from __future__ import annotations

import pytest

from headset_support import FakeClock


@pytest.fixture
def leak_checked_fd():
    """Every socket and pty the test opened must be closed again (emulators, drivers)."""
    return lambda target: target.startswith(("/dev/pts/", "/dev/ptmx", "socket:"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
