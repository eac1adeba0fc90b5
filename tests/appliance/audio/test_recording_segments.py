"""SegmentWriter: segments that Debian's age decrypts, rollover, permissions, fail-closed refusal, metadata."""
from __future__ import annotations

import dataclasses
import hashlib
import stat
from pathlib import Path

import pytest
from recording_helpers import age_decrypt, audio, keygen

from appliance.audio.age import HeaderMacMismatch, Recipient, decrypt, load_identities
from appliance.audio.age_keys import bech32_encode
from appliance.audio.segment_meta import STANZA_TYPE, SegmentMeta, inspect
from appliance.audio.segments import RecordingRefused, SegmentWriter, segment_name
from appliance.audio.vector import build
from appliance.calls.record import RecordingSegment

RATE = 8000
FRAME = 4


@pytest.fixture
def keys(tmp_path):
    return keygen(tmp_path)


def _write_in_pieces(writer: SegmentWriter, pcm: bytes, sizes=(1, 3, 640, 997, 4096, 30000)) -> None:
    pos, i = 0, 0
    while pos < len(pcm):
        step = sizes[i % len(sizes)]
        writer.write(pcm[pos:pos + step])
        pos, i = pos + step, i + 1


def test_rollover_every_segment_s_and_each_segment_decrypts_with_age(tmp_path, keys):
    pcm = audio(int(1.3 * RATE), seed=7)                  # 1.3 s at 0.5 s per segment: 0.5 + 0.5 + 0.3
    rec = tmp_path / "rec"
    writer = SegmentWriter(rec, "site-a/pbx1/1001", [keys.recipient], RATE, segment_s=0.5)
    _write_in_pieces(writer, pcm[:len(pcm) // 2])
    open_now = writer.segments
    assert [s.complete for s in open_now] == [True, False]
    assert open_now[-1].name.endswith(".part") and (rec / open_now[-1].name).exists()
    _write_in_pieces(writer, pcm[len(pcm) // 2:])
    segments = writer.close()

    assert [(s.index, s.first_sample, s.samples, s.complete) for s in segments] == [
        (0, 0, 4000, True), (1, 4000, 4000, True), (2, 8000, 2400, True)]
    assert sorted(p.name for p in rec.iterdir()) == [s.name for s in segments]
    for seg in segments:
        data = (rec / seg.name).read_bytes()
        assert seg.name == segment_name("site-a/pbx1/1001", seg.index)
        assert (seg.bytes, seg.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        out = age_decrypt(keys.identity_file, data)
        assert out.returncode == 0, out.stderr
        assert out.stdout == pcm[seg.first_sample * FRAME:(seg.first_sample + seg.samples) * FRAME]
        assert stat.S_IMODE((rec / seg.name).stat().st_mode) == 0o600
    assert stat.S_IMODE(rec.stat().st_mode) == 0o700


def test_segment_names_are_safe_and_distinct():
    names = {segment_name(key, 3) for key in ("a/b", "a_b", "../../etc/passwd", "a b", "ünï")}
    assert len(names) == 5
    for name in names:
        assert "/" not in name and not name.startswith(".") and name.endswith(".0003.age")
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


def test_plaintext_never_reaches_the_disk(tmp_path, keys):
    pcm = audio(3 * RATE, seed=11)
    writer = SegmentWriter(tmp_path / "rec", "call-1", [keys.recipient], RATE, segment_s=1.0)
    writer.write(pcm[:len(pcm) // 2])
    on_disk_mid_call = [p.read_bytes() for p in (tmp_path / "rec").iterdir()]
    writer.write(pcm[len(pcm) // 2:])
    writer.close()
    everything = on_disk_mid_call + [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    probes = [pcm[i:i + 32] for i in range(0, len(pcm), 4096)]
    assert not any(probe in blob for blob in everything for probe in probes)


@pytest.mark.parametrize("recipients, reason", [
    ([], "no recording recipient"),
    (["age1notakey"], "recipient 1 unusable"),
    (["AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"], "recipient 1 unusable"),
    ([bech32_encode("age", bytes(32))], "not a usable X25519 key"),       # a low-order point
])
def test_no_or_malformed_recipient_refuses_and_records_nothing(tmp_path, recipients, reason):
    with pytest.raises(RecordingRefused, match=reason) as info:
        SegmentWriter(tmp_path / "rec", "call-1", recipients, RATE)
    assert reason in info.value.reason
    assert not (tmp_path / "rec").exists()


def test_one_bad_recipient_among_good_ones_still_refuses(tmp_path, keys):
    with pytest.raises(RecordingRefused, match="recipient 2"):
        SegmentWriter(tmp_path / "rec", "call-1", [keys.recipient, keys.recipient[:-1] + "x"], RATE)


def test_existing_segment_is_never_overwritten(tmp_path, keys):
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / segment_name("call-1", 0)).write_bytes(b"earlier recording")
    with pytest.raises(RecordingRefused, match="already exists"):
        SegmentWriter(rec, "call-1", [keys.recipient], RATE)
    assert (rec / segment_name("call-1", 0)).read_bytes() == b"earlier recording"


def test_metadata_is_readable_without_the_key_and_bound_by_the_mac(tmp_path, keys):
    other = keygen(tmp_path, "auditor")
    writer = SegmentWriter(tmp_path / "rec", "site-a/pbx1/77", [keys.recipient, other.recipient], 16000,
                           segment_s=0.25, channels=2)
    writer.write(audio(6000))
    segments = writer.close()
    info = inspect(tmp_path / "rec" / segments[1].name)
    assert info.meta == SegmentMeta("site-a/pbx1/77", 1, 16000, 2, 4000,
                                    (Recipient.parse(keys.recipient).fingerprint,
                                     Recipient.parse(other.recipient).fingerprint))
    assert info.complete and info.samples == 2000 and info.sha256 == segments[1].sha256

    # a technician "fixes" the call key in the header of a segment: the MAC no longer verifies
    data = (tmp_path / "rec" / segments[1].name).read_bytes()
    forged_meta = dataclasses.replace(info.meta, call_key="site-a/pbx1/78")
    forged = data.replace(info.meta.to_stanza().marshal(), forged_meta.to_stanza().marshal())
    assert forged != data
    out = age_decrypt(keys.identity_file, forged)
    assert out.returncode != 0 and b"MAC" in out.stderr
    with pytest.raises(HeaderMacMismatch):
        decrypt(forged, load_identities(other.identity_file))


def test_partial_frames_are_carried_over_and_a_trailing_one_dropped(tmp_path, keys):
    pcm = audio(1000)
    writer = SegmentWriter(tmp_path / "rec", "call-2", [keys.recipient], RATE, segment_s=0.1)
    for i in range(0, len(pcm), 3):                       # never frame-aligned
        writer.write(pcm[i:i + 3])
    writer.write(b"\x01\x02")
    segments = writer.close()
    assert writer.dropped_bytes == 2
    assert sum(s.samples for s in segments) == 1000
    joined = b"".join(age_decrypt(keys.identity_file, (tmp_path / "rec" / s.name).read_bytes()).stdout
                      for s in segments)
    assert joined == pcm


def test_close_without_audio_gives_one_empty_complete_segment(tmp_path, keys):
    segments = SegmentWriter(tmp_path / "rec", "call-3", [keys.recipient], RATE).close()
    assert [(s.samples, s.complete) for s in segments] == [(0, True)]
    out = age_decrypt(keys.identity_file, (tmp_path / "rec" / segments[0].name).read_bytes())
    assert (out.returncode, out.stdout) == (0, b"")


def test_published_test_vector(tmp_path):
    """docs/recording-format.md's vector: reproduced exactly, and Debian's age decrypts it."""
    identity, meta, data = build()
    doc = (Path(__file__).parents[3] / "docs" / "recording-format.md").read_text()
    hex_in_doc = "".join(doc.split("<!-- vector-hex -->")[1].split("```")[1].split())
    assert data.hex() == hex_in_doc
    assert identity.encode() in doc and str(identity.recipient) in doc
    (tmp_path / "vector.txt").write_text(identity.encode() + "\n")
    out = age_decrypt(tmp_path / "vector.txt", data)
    assert (out.returncode, out.stdout) == (0, bytes(range(32)))
    assert f"-> {STANZA_TYPE} ".encode() in data
    assert segment_name(meta.call_key, 0) in doc                 # the naming example is the real one


def test_recording_segment_is_the_records_type(tmp_path, keys):
    writer = SegmentWriter(tmp_path / "rec", "call-4", [keys.recipient], RATE)
    writer.write(audio(10))
    assert all(isinstance(s, RecordingSegment) for s in writer.close())
