"""A store factory that holds the store writer at its door, so a test can queue work behind it."""
from __future__ import annotations

import threading
from pathlib import Path

from appliance.store import Store


class Gate:
    """A store factory that waits for `released`, so work queues behind a writer that is busy
    opening its store; `entered` is set once the writer is waiting."""

    def __init__(self, data_dir: Path, site_id: str = "site-a", **kw):
        self.data_dir, self.site_id, self.kw = data_dir, site_id, kw
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self) -> Store:
        self.entered.set()
        assert self.released.wait(10)
        return Store(self.data_dir, site_id=self.site_id, check=False, **self.kw)
