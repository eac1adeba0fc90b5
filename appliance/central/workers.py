"""Database work off the event loop: named thread pools, each thread with its own store connection."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from appliance.central.store import CentralStore, StoreError, StoreUnavailable

T = TypeVar("T")


class StorePool:
    """Thread pools by job (cdr, live, misc, health ...), so one kind of work never queues behind another.

    Every thread opens its own store (PostgreSQL: its own connection; SQLite: its own handle on the file)
    the first time it needs one, and keeps it; a connection that broke reconnects on its next use.
    """

    def __init__(self, factory: Callable[[], CentralStore], sizes: dict[str, int]):
        self._factory = factory
        self._local = threading.local()
        self._stores: list[CentralStore] = []
        self._lock = threading.Lock()
        self._pools = {name: ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"central-{name}")
                       for name, size in sizes.items()}

    def thread_store(self) -> CentralStore:
        """This thread's store (opened on first use); for threads the pool does not own, too."""
        store = getattr(self._local, "store", None)
        if store is None:
            try:
                store = self._factory()
            except StoreError as exc:
                raise StoreUnavailable(str(exc)) from exc
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def _call(self, fn: Callable[..., T], args: tuple) -> T:
        return fn(self.thread_store(), *args)

    async def run(self, pool: str, fn: Callable[..., T], *args) -> T:
        """fn(store, *args) on a thread of `pool`."""
        return await asyncio.get_running_loop().run_in_executor(self._pools[pool], self._call, fn, args)

    async def call(self, pool: str, method: str, *args):
        """store.<method>(*args) on a thread of `pool`."""
        return await self.run(pool, _call_method, method, *args)

    async def run_plain(self, pool: str, fn: Callable[..., T], *args) -> T:
        """fn(*args) on a thread of `pool`, without a store (file work)."""
        return await asyncio.get_running_loop().run_in_executor(self._pools[pool], fn, *args)

    def close(self) -> None:
        """Wait for running work, then close every store (their threads must be done with them)."""
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()


def _call_method(store: CentralStore, method: str, *args):
    return getattr(store, method)(*args)
