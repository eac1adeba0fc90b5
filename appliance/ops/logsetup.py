"""Logging set-up: one line per event, component-prefixed; no timestamps of our own under journald."""
from __future__ import annotations

import logging
import os
import sys
import time


class BurstLimiter:
    """Log the first occurrence of a burst, then one summary line per `window_s` with the count."""

    def __init__(self, window_s: float = 10.0, clock=time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._open: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> tuple[bool, int]:
        """Returns (log_now, suppressed_since_last_line)."""
        now = self.clock()
        started, suppressed = self._open.get(key, (None, 0))
        if started is None or now - started >= self.window_s:
            self._open[key] = (now, 0)
            return True, suppressed
        self._open[key] = (started, suppressed + 1)
        return False, 0


def setup_logging(level: str = "info") -> None:
    under_journald = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    fmt = "%(levelname)s %(name)s: %(message)s" if under_journald else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt, "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("grpc").setLevel(logging.WARNING)
