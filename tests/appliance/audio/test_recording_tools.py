"""The recording CLI: keys, info without the key, decrypt/join with every integrity check, exit codes."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from recording_helpers import age_encrypt, audio

from appliance.audio.segments import SegmentWriter
from appliance.audio.tools import main

RATE = 8000


@pytest.fixture
def central(tmp_path, capsys):
    assert main(["keys", "generate", "--out", str(tmp_path / "keys")]) == 0
    printed = capsys.readouterr().out
    return tmp_path / "keys" / "identity.txt", (tmp_path / "keys" / "recipients.txt").read_text().strip(), printed


def _record(directory: Path, call_key: str, recipient: str, pcm: bytes, segment_s: float = 0.5) -> list[Path]:
    writer = SegmentWriter(directory, call_key, [recipient], RATE, segment_s=segment_s)
    writer.write(pcm)
    return [directory / s.name for s in writer.close()]


def _wav(path: Path) -> tuple[int, int, bytes]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getframerate(), w.readframes(w.getnframes())


def test_keys_generate_prints_the_recipient_never_the_identity(tmp_path, central):
    identity, recipient, printed = central
    secret = [line for line in identity.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1")]
    assert len(secret) == 1 and secret[0] not in printed
    assert recipient in printed and recipient.startswith("age1")
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    before = identity.read_bytes()
    assert main(["keys", "generate", "--out", str(identity.parent)]) == 2       # never overwrites
    assert identity.read_bytes() == before
    # the stock tool accepts the identity file as written
    sealed = age_encrypt([recipient], b"check")
    done = subprocess.run(["age", "-d", "-i", str(identity)], input=sealed, capture_output=True)
    assert done.stdout == b"check"


def test_info_shows_metadata_without_the_key(tmp_path, central, capsys):
    _, recipient, _ = central
    files = _record(tmp_path / "rec", "site-a/pbx1/9", recipient, audio(6000))
    assert main(["recording", "info", *map(str, files)]) == 0
    text = capsys.readouterr().out
    assert text.count("call key:    site-a/pbx1/9") == 2
    assert "segment:     1 (starts at sample 4000, 0.500 s)" in text and "8000 Hz, 2 channel(s)" in text
    assert "complete:    yes" in text
    assert main(["recording", "info", "--json", str(files[1])]) == 0
    [shown] = json.loads(capsys.readouterr().out)
    assert (shown["segment"], shown["samples"], shown["bytes"]) == (1, 2000, files[1].stat().st_size)
    assert len(shown["recipients"]) == 1 and shown["complete"] is True
    other = tmp_path / "plain.age"
    other.write_bytes(age_encrypt([recipient], b"not a segment"))
    assert main(["recording", "info", str(other)]) == 1
    assert "not a recording segment" in capsys.readouterr().err
    assert main(["recording", "info", str(tmp_path / "missing.age")]) == 2


def test_decrypt_joins_segments_given_in_any_order(tmp_path, central, capsys):
    identity, recipient, _ = central
    pcm = audio(int(1.7 * RATE), seed=21)
    files = _record(tmp_path / "rec", "call-a", recipient, pcm)
    out = tmp_path / "call-a.wav"
    assert main(["recording", "decrypt", "--identity", str(identity), *map(str, reversed(files)),
                 "--out", str(out)]) == 0
    assert _wav(out) == (2, RATE, pcm)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "4 segment(s), 1.700 s" in capsys.readouterr().out


def _refused(tmp_path, identity, files, capsys, code=1) -> str:
    out = tmp_path / "out.wav"
    assert main(["recording", "decrypt", "--identity", str(identity), *map(str, files), "--out", str(out)]) == code
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.wav")]
    return capsys.readouterr().err


def test_segments_swapped_between_calls_are_detected(tmp_path, central, capsys):
    identity, recipient, _ = central
    a = _record(tmp_path / "a", "call-a", recipient, audio(12000, seed=1))
    b = _record(tmp_path / "b", "call-b", recipient, audio(12000, seed=2))
    # swap segment 1 of the two calls, names and all
    a1, b1 = a[1].read_bytes(), b[1].read_bytes()
    a[1].write_bytes(b1)
    b[1].write_bytes(a1)
    err = _refused(tmp_path, identity, a, capsys)
    assert "segment 1 of call 'call-b', not of call 'call-a'" in err
    err = _refused(tmp_path, identity, b, capsys)
    assert "of call 'call-a', not of call 'call-b'" in err


def test_a_segment_of_another_recording_inserted_or_one_missing(tmp_path, central, capsys):
    identity, recipient, _ = central
    a = _record(tmp_path / "a", "call-a", recipient, audio(12000, seed=1))
    b = _record(tmp_path / "b", "call-b", recipient, audio(12000, seed=2))
    assert "not of call 'call-a'" in _refused(tmp_path, identity, [*a, b[1]], capsys)
    assert "segment 1 of call 'call-a' is missing" in _refused(tmp_path, identity, [a[0], a[2]], capsys)
    assert "segment 1 of call 'call-a' is given twice" in _refused(tmp_path, identity, [a[0], a[1], a[1]], capsys)
    # the same call key recorded again (a re-used key): segment 1 of the second run does not continue the first
    c = _record(tmp_path / "c", "call-a", recipient, audio(12000, seed=3), segment_s=0.25)
    assert "starts at sample 2000 but the segments before it end at sample 4000" in \
        _refused(tmp_path, identity, [a[0], c[1]], capsys)


def test_tampered_segment_fails_with_no_output(tmp_path, central, capsys):
    identity, recipient, _ = central
    files = _record(tmp_path / "rec", "call-t", recipient, audio(30000, seed=9), segment_s=3.0)
    data = bytearray(files[1].read_bytes())
    data[-100] ^= 0x04                                     # late in the last segment: after audio was written
    files[1].write_bytes(bytes(data))
    err = _refused(tmp_path, identity, files, capsys)
    assert "integrity error" in err and "segment 1" in err and "fails authentication" in err


def test_wrong_identity_is_a_key_error_naming_both_fingerprints(tmp_path, central, capsys):
    _, recipient, _ = central
    files = _record(tmp_path / "rec", "call-w", recipient, audio(100))
    assert main(["keys", "generate", "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    err = _refused(tmp_path, tmp_path / "other" / "identity.txt", files, capsys, code=2)
    assert "wrong identity" in err and "is encrypted to recipient(s)" in err
    (tmp_path / "bad.txt").write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    assert "malformed identity" in _refused(tmp_path, tmp_path / "bad.txt", files, capsys, code=2)


def test_salvage_of_complete_segments_says_nothing_was_cut(tmp_path, central, capsys):
    identity, recipient, _ = central
    pcm = audio(5000)
    files = _record(tmp_path / "rec", "call-s", recipient, pcm)
    out = tmp_path / "s.wav"
    assert main(["recording", "salvage", "--identity", str(identity), *map(str, files), "--out", str(out)]) == 0
    assert "nothing was cut" in capsys.readouterr().out
    assert _wav(out)[2] == pcm and b"TRUNCATED" not in out.read_bytes()


def test_command_line_entry_and_usage_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "appliance.audio.tools", "recording", "decrypt", "x.age"],
                          capture_output=True, text=True, cwd=Path(__file__).parents[3])
    assert done.returncode == 2 and "--identity" in done.stderr and "Traceback" not in done.stderr
