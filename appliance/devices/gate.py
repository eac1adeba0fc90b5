"""Device input flows only while nothing holds it: each holder names its reason (store behind, disk full ...)."""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("appliance.daemon")


class InputGate:
    """`hold(reason, True)` pauses every device at once (if it was flowing); input resumes when the
    last reason is let go. `apply(paused)` does the pausing; `pauses` counts flowing -> held."""

    def __init__(self, apply: Callable[[bool], None]):
        self._apply = apply
        self._reasons: set[str] = set()
        self.pauses = 0

    def hold(self, reason: str, on: bool = True) -> None:
        before = bool(self._reasons)
        if on:
            self._reasons.add(reason)
        else:
            self._reasons.discard(reason)
        after = bool(self._reasons)
        if after and not before:
            self.pauses += 1
            self._apply(True)
        elif before and not after:
            self._apply(False)

    @property
    def held(self) -> bool:
        return bool(self._reasons)

    @property
    def reasons(self) -> list[str]:
        return sorted(self._reasons)
