"""Back-off, written once: a delay that doubles from `base_s` up to `cap_s`, spread by +/- jitter."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class BackoffPolicy:
    """Delay after the n-th failure in a row: base * 2**(n-1), capped, then spread by +/- `jitter`.

    The spread keeps many sites (or devices) that failed together from retrying in lock-step.
    """
    base_s: float = 0.5
    cap_s: float = 10.0
    jitter: float = 0.2

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        if failures <= 0:
            return 0.0
        raw = min(self.cap_s, self.base_s * 2 ** min(failures - 1, 62))
        spread = raw * self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, min(self.cap_s, raw + spread))


class Backoff:
    """A policy with its failure count: `next()` after each failure, `reset()` after a success."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float] = random.random):
        self.policy = policy
        self._rand = rand
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return self.policy.delay(self.failures, self._rand)

    def reset(self) -> None:
        self.failures = 0
