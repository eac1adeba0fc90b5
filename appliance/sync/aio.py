"""asyncio helpers of the sync client: bounded waits that a stop() can always end, cancelling task groups."""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Awaitable

log = logging.getLogger("appliance.sync")


class Immediate:
    """Awaitable that is already done (stop() before run())."""

    def __await__(self):
        return iter(())


def nothing() -> None:
    pass


def call_soon(loop: asyncio.AbstractEventLoop, callback) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:        # the loop closed meanwhile: run() is over, nothing to tell it
        pass


class Lifetime:
    """The run()/stop() handshake of a long-running client: stop() from any thread (or before run()),
    awaitable on the loop until run() has finished; wake-up events set from any thread."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._stop_event: asyncio.Event | None = None
        self._done: asyncio.Future | None = None
        self._requested = False

    def begin(self) -> asyncio.Event:
        """Call first in run(), on its loop; returns the event stop() sets."""
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._stop_event = asyncio.Event()
        self._done = self.loop.create_future()
        if self._requested:
            self._stop_event.set()
        return self._stop_event

    def end(self) -> None:
        """Call last in run(): whoever awaits stop() goes on."""
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def stop(self) -> Awaitable[None]:
        self._requested = True
        if self.loop is None or self._stop_event is None or self.loop.is_closed():
            return Immediate()
        if threading.get_ident() == self._thread:
            self._stop_event.set()
            return asyncio.shield(self._done)
        call_soon(self.loop, self._stop_event.set)
        return Immediate()

    def set_soon(self, event: asyncio.Event | None) -> None:
        """Set an event of run()'s loop, from any thread; nothing before run() or after the loop closed."""
        if self.loop is None or event is None or self.loop.is_closed():
            return
        if threading.get_ident() == self._thread:
            event.set()
        else:
            call_soon(self.loop, event.set)


async def within(awaitable, timeout: float) -> bool:
    """Await with a time limit; False on timeout.

    asyncio.timeout rather than wait_for: on Python 3.11, wait_for can swallow a cancellation that
    arrives just as the inner await finishes, and then stop() would not stop the loop.
    """
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await awaitable
        return True
    except TimeoutError:
        return False


async def cancel_all(tasks) -> None:
    for task in tasks:
        task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=5.0)
    if stuck:
        log.error("%d task(s) did not stop when cancelled: %s", len(stuck),
                  ", ".join(task.get_name() for task in stuck))

