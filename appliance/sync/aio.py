"""asyncio helpers of the sync client: bounded waits that a stop() can always end, cancelling task groups."""
from __future__ import annotations

import asyncio
import logging

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

