"""Fixtures for the SMDR tests: fail any test that leaves a thread or a file descriptor behind."""
from __future__ import annotations

import os
import threading
import time

import pytest


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_leaks():
    threads = set(threading.enumerate())
    fds = _fds()
    yield
    deadline = time.monotonic() + 5.0
    while True:   # bounded wait: a stopped thread or a closed socket may take a moment to go
        extra_threads = [t.name for t in set(threading.enumerate()) - threads if t.is_alive()]
        extra_fds = sorted(_fds() - fds)
        if not extra_threads and not extra_fds:
            return
        if time.monotonic() > deadline:
            links = []
            for fd in extra_fds:
                try:
                    links.append(os.readlink(f"/proc/self/fd/{fd}"))
                except OSError:
                    pass
            pytest.fail(f"test left threads {extra_threads} / file descriptors {links} open")
        time.sleep(0.02)
