"""Burst-limited logging, written once: the first line of a burst, then one summary per window."""
from __future__ import annotations

import time
from typing import Callable


class BurstLimiter:
    """Say the first occurrence of a burst, then count; `due()` hands out the summaries on a timer.

    A burst of bad input is therefore reported when its window ends, not only when the next bad
    line happens to arrive (a burst followed by silence would otherwise never be summed up).
    """

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
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

    def due(self) -> list[tuple[str, int]]:
        """(key, suppressed) of every burst whose window has ended with hits not yet reported."""
        now = self.clock()
        out = []
        for key, (started, suppressed) in list(self._open.items()):
            if now - started >= self.window_s:
                del self._open[key]
                if suppressed:
                    out.append((key, suppressed))
        return out
