"""Suite-wide: fail any test that leaves a thread or an emulated serial port (pty) behind.

gRPC's core keeps a few process-wide threads once any channel or server has been used; those
are library state, not leaks of ours, and are allowed by name. Every thread and pty a test
starts it must stop. (Database descriptors are not checked here: module-scoped central fixtures
keep theirs open across tests on purpose; the SMDR suite checks every descriptor.)
"""
from __future__ import annotations

import os
import threading
import time

import pytest

_LIBRARY_THREADS = ("grpc", "Thread-", "asyncio_", "ThreadPoolExecutor")


def _fds() -> dict[str, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out


def _ours(target: str) -> bool:
    return target.startswith(("/dev/pts/", "/dev/ptmx"))


@pytest.fixture
def leak_checked_fd():
    """Which descriptors count as the test's own; a directory's conftest may widen it."""
    return _ours


@pytest.fixture(autouse=True)
def no_leaks(leak_checked_fd):
    threads = set(threading.enumerate())
    fds = _fds()
    yield
    deadline = time.monotonic() + 5.0
    while True:   # bounded wait: a stopped thread or a closed socket may take a moment to go
        extra_threads = [t.name for t in set(threading.enumerate()) - threads
                         if t.is_alive() and not t.name.startswith(_LIBRARY_THREADS)]
        now = _fds()
        extra_fds = sorted(target for fd, target in now.items()
                           if fds.get(fd) != target and leak_checked_fd(target) and fd not in ("0", "1", "2"))
        if not extra_threads and not extra_fds:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"test left threads {extra_threads} / file descriptors {extra_fds} open")
        time.sleep(0.02)   # polling interval of a bounded wait
