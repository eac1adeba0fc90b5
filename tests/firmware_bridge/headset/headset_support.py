"""Shared by the headset tests: where the real descriptors are, and an injected clock."""
from __future__ import annotations

from firmware_bridge.headset import DESCRIPTORS

DATA = DESCRIPTORS


def descriptor(name: str) -> bytes:
    return (DATA / name).read_bytes()


class FakeClock:
    """An injected monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
