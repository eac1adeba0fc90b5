"""The line framer's split-in-C path cuts every stream exactly as its regex path does."""
from __future__ import annotations

import random

import pytest

from firmware_bridge.framing import LineFramer


class RegexOnly(LineFramer):
    """The framer with its fast path turned off: the reference."""

    def _plain(self, buf: bytes) -> bool:
        return False


def frame(framer: LineFramer, data: bytes, cuts: list[int]) -> list:
    out, last = [], 0
    for cut in [*cuts, len(data)]:
        out += framer.feed(data[last:cut])
        last = cut
    return out + framer.flush()


@pytest.mark.parametrize("seed", range(40))
def test_fast_and_regex_paths_give_the_same_lines_however_the_stream_is_cut(seed):
    rand = random.Random(seed)
    # Mostly CR LF and LF streams (the fast path), with bare CRs, NULs, form feeds and long lines mixed in.
    alphabet = [b"a", b"1", b",", b"\r\n", b"\n", b"\x00"] * 6 + [b"\r", b"\r\r\n", b"\x0c", b"x" * 40]
    data = b"".join(rand.choice(alphabet) for _ in range(rand.randint(0, 400)))
    cuts = sorted(rand.sample(range(len(data) + 1), min(len(data) + 1, rand.randint(0, 12))))
    for kw in (dict(strip_leading=b"\x00", max_line=30), dict(also_ends=b"\x0c", blank_lines=True, max_line=64)):
        assert frame(LineFramer(**kw), data, cuts) == frame(RegexOnly(**kw), data, cuts)


def test_a_crlf_stream_is_cut_at_every_terminator():
    framer = LineFramer(strip_leading=b"\x00")
    assert framer.feed(b"\x00\x00one\r\ntwo\n\r\nthr") == [(b"one", ""), (b"two", "")]
    assert framer.pending == 3
    assert framer.feed(b"ee\r") == [(b"three", "")]         # a CR ends a line; its LF may follow later
    assert framer.feed(b"\nfour\r\n") == [(b"four", "")]
