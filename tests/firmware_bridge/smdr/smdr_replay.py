"""Replay helpers for codec tests: whole, split at every byte, one byte at a time, with noise."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from firmware_bridge.events import ProtocolError

DATA = Path(__file__).resolve().parents[2] / "data"


def capture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def replay(make_codec: Callable, *chunks: bytes) -> list:
    """Feed the chunks to a fresh codec, then end the stream."""
    codec = make_codec()
    events = []
    for chunk in chunks:
        events += codec.feed(chunk)
    return events + codec.flush()


def assert_split_invariant(make_codec: Callable, data: bytes) -> list:
    """The events must not depend on how the stream was cut into reads."""
    whole = replay(make_codec, data)
    for cut in range(1, len(data)):
        assert replay(make_codec, data[:cut], data[cut:]) == whole, f"differs when cut at byte {cut}"
    assert replay(make_codec, *(data[i:i + 1] for i in range(len(data)))) == whole, "byte by byte"
    return whole


def errors(events: list) -> list[ProtocolError]:
    return [e for e in events if isinstance(e, ProtocolError)]


def records(events: list) -> list:
    return [e for e in events if not isinstance(e, ProtocolError)]
