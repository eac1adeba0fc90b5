"""The shortcuts of the Avaya parser (the C parser for call start times, one regex per record) decide exactly as the thorough checks do."""
from __future__ import annotations

import random
from datetime import datetime

import pytest

from firmware_bridge.events import ProtocolError
from firmware_bridge.smdr.avaya import _CALL_START, is_call_start
from firmware_bridge.smdr.legs import avaya_time


def thorough(text: str) -> bool:
    m = _CALL_START.fullmatch(text)
    if m is None:
        return False
    try:
        datetime(*map(int, m.groups()))
    except ValueError:
        return False
    return True


def mutations(rand: random.Random, n: int):
    chars = "0123456789/: -T+.Z٣a"
    for _ in range(n):
        text = list(f"{rand.randint(1, 9999):04d}/{rand.randint(0, 13):02d}/{rand.randint(0, 32):02d} "
                    f"{rand.randint(0, 25):02d}:{rand.randint(0, 61):02d}:{rand.randint(0, 61):02d}")
        for _ in range(rand.choice((0, 0, 1, 2))):
            text[rand.randrange(len(text))] = rand.choice(chars)
        yield "".join(text)


@pytest.mark.parametrize("seed", range(5))
def test_the_shortcut_never_accepts_what_the_regex_refuses_and_parses_the_same_time(seed):
    for text in mutations(random.Random(seed), 4000):
        fast = is_call_start(text)
        assert not fast or thorough(text), text        # "not sure" is allowed, a wrong yes is not
        if text.isascii() and thorough(text):
            assert fast, text                          # and every plain valid time takes the shortcut
        if thorough(text):
            assert avaya_time(text) == datetime(*map(int, _CALL_START.fullmatch(text).groups()))


def test_unicode_digits_still_take_the_thorough_path():
    text = "2026/01/01 09:00:0٣"                       # an Arabic-Indic 3: \\d and int() accept it
    assert not is_call_start(text) and thorough(text)
    assert avaya_time(text) == datetime(2026, 1, 1, 9, 0, 3)


def line_mutations(rand: random.Random, n: int):
    """Real record lines with a few characters changed, fields added or removed, NULs and non-ASCII digits."""
    from firmware_bridge.smdr.avaya import encode_record
    from firmware_bridge.smdr.traffic import generate_avaya_calls
    lines = [encode_record(r)[:-2].decode() for call in generate_avaya_calls(60, start=datetime(2026, 2, 28, 23), seed=3)
             for r in call]
    chars = "0123456789,:/ IOE\x00٣x-"
    for _ in range(n):
        text = list(rand.choice(lines))
        for _ in range(rand.choice((0, 1, 1, 2, 3))):
            at = rand.randrange(len(text))
            if rand.random() < 0.2:
                del text[at]
            else:
                text[at] = rand.choice(chars)
        if rand.random() < 0.1:
            text += list("," * rand.randint(1, 20))
        yield "".join(text).encode()


@pytest.mark.parametrize("seed", range(4))
def test_the_one_regex_path_decides_and_reads_exactly_as_the_thorough_checks(seed):
    from firmware_bridge.smdr.avaya import _parse_thoroughly, parse_line
    for line in line_mutations(random.Random(seed), 3000):
        fast, slow = parse_line(line), _parse_thoroughly(line, line.decode("utf-8", "replace"))
        if type(slow) is ProtocolError:
            assert type(fast) is ProtocolError and fast.reason == slow.reason, line
        else:
            assert fast == slow, line
