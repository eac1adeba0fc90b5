"""The daemon's asyncio tasks, owned: each kept by name, its failure logged once and shown in status."""
from __future__ import annotations

import asyncio
import logging
from typing import Coroutine

log = logging.getLogger("appliance.daemon")


class TaskGroup:
    """Tasks started here are kept until they end; an exception is logged with its traceback (a bug
    in a component is loud, never silent) and `status()` shows it until the daemon restarts."""

    def __init__(self):
        self._tasks: dict[str, asyncio.Task] = {}
        self._failed: dict[str, str] = {}

    def start(self, coro: Coroutine, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        name = task.get_name()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._failed[name] = f"failed: {type(exc).__name__}: {exc}"
            log.error("task %s failed: %s", name, exc, exc_info=exc)

    def status(self) -> dict[str, str]:
        out = {name: ("running" if not t.done() else "done") for name, t in self._tasks.items()}
        out.update(self._failed)
        return out

    async def cancel_all(self, timeout: float = 10.0) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout)
            for task in stuck:
                log.error("task %s did not stop when cancelled", task.get_name())
