"""The wallboard output tests run real drivers against emulated signs on ptys."""
from __future__ import annotations

import pytest

from firmware_bridge.pty import EmulatedPort


@pytest.fixture
def line(tmp_path):
    port = EmulatedPort(str(tmp_path / "wallboard"))
    yield port
    port.close()
