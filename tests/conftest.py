"""Suite-wide: fail any test that leaves a thread, an emulated serial port (pty) or an asyncio task behind.

No thread is let through by name: every thread a test starts it must stop. An asyncio task still
pending when `asyncio.run()` finishes its main coroutine is a leak too (asyncio.run would cancel
it quietly; here the test fails and names it). Database descriptors are not checked here:
module-scoped central fixtures keep theirs open across tests on purpose; the SMDR suite checks
every descriptor.
"""
from __future__ import annotations

import asyncio.runners
import gc
import os
import threading
import time

import pytest

_leaked_tasks: list[str] = []
_cancel_all_tasks = asyncio.runners._cancel_all_tasks


def _recording_cancel_all_tasks(loop):
    """asyncio.run's clean-up, after the main coroutine returned: whatever is still pending leaked."""
    for task in asyncio.all_tasks(loop):
        if not task.done():
            _leaked_tasks.append(task.get_name() + " " + repr(task.get_coro()))
    return _cancel_all_tasks(loop)


asyncio.runners._cancel_all_tasks = _recording_cancel_all_tasks


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
    del _leaked_tasks[:]
    yield
    leaked_tasks = list(_leaked_tasks)
    # gRPC's asyncio poller thread ends only once its completion queue has drained, i.e. once every
    # operation the C core still holds for a closed channel has finished: under load that once took
    # more than 5 s in CI. A thread that is really left behind is still there after 15 s.
    deadline = time.monotonic() + 15.0
    collected = 0.0
    while True:   # bounded wait: a stopped thread or a closed socket may take a moment to go
        extra_threads = [t.name for t in set(threading.enumerate()) - threads if t.is_alive()]
        now = _fds()
        extra_fds = sorted(target for fd, target in now.items()
                           if fds.get(fd) != target and leak_checked_fd(target) and fd not in ("0", "1", "2"))
        if not extra_threads and not extra_fds and not leaked_tasks:
            return
        if time.monotonic() >= collected:
            # gRPC's asyncio poller thread stops when the last channel or server object is freed,
            # and closed ones may wait for the cycle collector (objects freed by one collection
            # can release others only at the next): collect again while waiting.
            gc.collect()
            collected = time.monotonic() + 0.5
        if leaked_tasks or time.monotonic() > deadline:
            pytest.fail(f"test left threads {extra_threads} / file descriptors {extra_fds} / "
                        f"asyncio tasks {leaked_tasks} behind")
        time.sleep(0.02)   # polling interval of a bounded wait
