"""age v1 interoperability with Debian's age binary both ways, and every kind of tamper named clearly."""
from __future__ import annotations

import io

import pytest
from recording_helpers import (CHUNK_SIZE, SEALED_CHUNK_SIZE, age_decrypt, age_encrypt, audio, chunk_span,
                               keygen, payload_offset)

from appliance.audio.age import (AgeError, AgeKeyError, AgeReader, ChunkCorrupted, ChunksReordered,
                                 HeaderError, HeaderMacMismatch, Identity, NoIdentityMatch, Recipient,
                                 TrailingData, Truncated, decrypt, encrypt, load_identities)
from appliance.audio.age_header import Stanza, b64decode, b64encode

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5]


@pytest.fixture
def keys(tmp_path):
    return keygen(tmp_path)


@pytest.mark.parametrize("size", SIZES)
def test_files_we_write_decrypt_bit_exact_with_age(tmp_path, keys, size):
    data = audio(size // 4 + 1, seed=size)[:size]
    out = age_decrypt(keys.identity_file, encrypt(data, [Recipient.parse(keys.recipient)]))
    assert out.returncode == 0, out.stderr
    assert out.stdout == data


@pytest.mark.parametrize("size", SIZES)
def test_files_age_writes_decrypt_with_ours(tmp_path, keys, size):
    data = audio(size // 4 + 1, seed=size)[:size]
    assert decrypt(age_encrypt([keys.recipient], data), load_identities(keys.identity_file)) == data


def test_several_recipients_each_decrypts_with_age(tmp_path):
    a, b = keygen(tmp_path, "a"), keygen(tmp_path, "b")
    data = audio(40000)
    sealed = encrypt(data, [Recipient.parse(a.recipient), Recipient.parse(b.recipient)])
    for pair in (a, b):
        out = age_decrypt(pair.identity_file, sealed)
        assert (out.returncode, out.stdout) == (0, data), out.stderr
    # and the other way: a file age wrote to both opens with either identity of ours
    theirs = age_encrypt([a.recipient, b.recipient], data)
    assert decrypt(theirs, load_identities(b.identity_file)) == data


def test_keys_match_age_keygen_and_the_spec_example(tmp_path, keys):
    identity = load_identities(keys.identity_file)[0]
    assert str(identity.recipient) == keys.recipient
    # the X25519 example of c2sp.org/age: identity 0x42 * 32 and its recipient
    spec = Identity(bytes([0x42]) * 32)
    assert spec.encode() == "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    assert str(spec.recipient) == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
    # an identity we generate works with age
    ours = Identity.generate()
    (tmp_path / "ours.txt").write_text(ours.encode() + "\n")
    out = age_decrypt(tmp_path / "ours.txt", age_encrypt([str(ours.recipient)], b"hello"))
    assert out.stdout == b"hello", out.stderr
    assert ours.encode() not in repr(ours)


@pytest.mark.parametrize("bad", ["", "age1", "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk",
                                 "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
                                 "Age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"])
def test_malformed_recipients_are_rejected(bad):
    with pytest.raises(AgeKeyError):
        Recipient.parse(bad)


def test_unknown_stanza_is_ignored_by_age_but_covered_by_its_mac(tmp_path, keys):
    """The spec's rule for unrecognised stanzas, proven with the real binary: it decrypts; edited, it fails."""
    extra = Stanza("appliance-recording/v1", ("Y2FsbC0x", "0", "8000"), b"")
    sealed = encrypt(b"pcm", [Recipient.parse(keys.recipient)], extra_stanzas=[extra])
    assert b"-> appliance-recording/v1 Y2FsbC0x 0 8000\n\n" in sealed
    assert age_decrypt(keys.identity_file, sealed).stdout == b"pcm"
    edited = sealed.replace(b"Y2FsbC0x 0 8000", b"Y2FsbC0y 0 8000")
    out = age_decrypt(keys.identity_file, edited)
    assert out.returncode != 0 and b"MAC" in out.stderr
    with pytest.raises(HeaderMacMismatch, match="header MAC mismatch"):
        decrypt(edited, load_identities(keys.identity_file))


def test_wrong_identity(tmp_path, keys):
    other = keygen(tmp_path, "other")
    with pytest.raises(NoIdentityMatch, match="wrong identity"):
        decrypt(encrypt(b"x", [Recipient.parse(keys.recipient)]), load_identities(other.identity_file))


def test_every_flipped_header_byte_is_rejected(keys):
    ids = load_identities(keys.identity_file)
    sealed = encrypt(b"x" * 100, [Recipient.parse(keys.recipient)],
                     extra_stanzas=[Stanza("appliance-recording/v1", ("abc", "1"), b"")])
    for pos in range(payload_offset(sealed) - 16):
        tampered = bytearray(sealed)
        tampered[pos] ^= 0x01
        with pytest.raises(AgeError):
            decrypt(bytes(tampered), ids)


def test_flipped_payload_bytes_name_the_chunk(keys):
    ids = load_identities(keys.identity_file)
    sealed = encrypt(audio(CHUNK_SIZE), [Recipient.parse(keys.recipient)])       # 4 chunks of 64 KiB
    for chunk, offset in ((0, 0), (1, 1000), (2, SEALED_CHUNK_SIZE - 1)):
        tampered = bytearray(sealed)
        tampered[chunk_span(sealed, chunk).start + offset] ^= 0x80
        with pytest.raises(ChunkCorrupted, match=f"chunk {chunk} .*fails authentication"):
            decrypt(bytes(tampered), ids)
    nonce = bytearray(sealed)
    nonce[payload_offset(sealed) - 1] ^= 0x01           # the payload nonce: every chunk key changes
    with pytest.raises(ChunkCorrupted, match="chunk 0 "):
        decrypt(bytes(nonce), ids)


def test_reordered_and_duplicated_chunks(keys):
    ids = load_identities(keys.identity_file)
    data = audio(CHUNK_SIZE, seed=3)                     # 256 KiB: four full chunks, the last one final
    sealed = encrypt(data, [Recipient.parse(keys.recipient)])
    c0, c1 = sealed[chunk_span(sealed, 0)], sealed[chunk_span(sealed, 1)]
    swapped = sealed.replace(c0 + c1, c1 + c0)
    with pytest.raises(ChunksReordered, match="chunk 0 is chunk 1 of this file"):
        decrypt(swapped, ids)
    duplicated = sealed.replace(c1, c0)
    with pytest.raises(ChunksReordered, match="chunk 1 is chunk 0 of this file"):
        decrypt(duplicated, ids)
    assert age_decrypt(keys.identity_file, swapped).returncode != 0


def test_truncation_is_an_error_and_salvage_keeps_the_authentic_chunks(keys):
    ids = load_identities(keys.identity_file)
    data = audio(50000, seed=4)                          # 200000 bytes: chunks 0-2 full, chunk 3 final
    sealed = encrypt(data, [Recipient.parse(keys.recipient)])
    at_edge = sealed[:chunk_span(sealed, 2).stop]        # the final chunk is gone
    with pytest.raises(Truncated, match="without a final chunk"):
        decrypt(at_edge, ids)
    reader = AgeReader(io.BytesIO(at_edge), ids, salvage=True)
    assert reader.read_all() == data[:3 * CHUNK_SIZE]
    assert reader.truncated and reader.dropped_bytes == 0

    mid = sealed[:chunk_span(sealed, 2).start + 5000]   # cut inside chunk 2
    with pytest.raises(ChunkCorrupted, match="chunk 2 .*cut inside a chunk"):
        decrypt(mid, ids)
    reader = AgeReader(io.BytesIO(mid), ids, salvage=True)
    assert reader.read_all() == data[:2 * CHUNK_SIZE]
    assert reader.truncated and reader.dropped_bytes == 5000
    assert age_decrypt(keys.identity_file, at_edge).returncode != 0

    with pytest.raises(HeaderError, match="before the payload nonce"):
        decrypt(sealed[:payload_offset(sealed) - 3], ids)
    with pytest.raises(HeaderError, match="ends inside the header"):
        decrypt(sealed[:40], ids)


def test_salvage_still_rejects_tampering_before_the_cut(keys):
    ids = load_identities(keys.identity_file)
    sealed = encrypt(audio(50000), [Recipient.parse(keys.recipient)])
    cut = bytearray(sealed[:chunk_span(sealed, 2).stop])
    cut[chunk_span(sealed, 1).start + 7] ^= 0x01
    with pytest.raises(ChunkCorrupted, match="chunk 1"):
        AgeReader(io.BytesIO(bytes(cut)), ids, salvage=True).read_all()


@pytest.mark.parametrize("plain_size", [1000, CHUNK_SIZE, 2 * CHUNK_SIZE])
@pytest.mark.parametrize("extra", [b"\0", b"trailing data" * 300])
def test_trailing_data_after_the_final_chunk(keys, plain_size, extra):
    ids = load_identities(keys.identity_file)
    sealed = encrypt(audio(plain_size // 4 + 1)[:plain_size], [Recipient.parse(keys.recipient)])
    for salvage in (False, True):
        with pytest.raises(TrailingData, match="after the final chunk"):
            AgeReader(io.BytesIO(sealed + extra), ids, salvage=salvage).read_all()


def test_canonical_unpadded_base64_only():
    assert b64encode(b"\xff") == "/w"
    assert b64decode("/w") == b"\xff"
    for bad in ("/w==", "/x", "A", "AA AA", "AA\n"):
        with pytest.raises(ValueError):
            b64decode(bad)


def test_long_stanza_body_wraps_at_64_columns(keys):
    """A body of exactly 48 bytes needs an empty final line; age parses what we write."""
    for size in (47, 48, 49, 96):
        lines = Stanza("appliance-test", ("x",), bytes(size)).marshal().split(b"\n")
        assert all(len(line) <= 64 for line in lines) and len(lines[-2]) < 64
        sealed = encrypt(b"ok", [Recipient.parse(keys.recipient)],
                         extra_stanzas=[Stanza("appliance-test", ("x",), bytes(size))])
        assert age_decrypt(keys.identity_file, sealed).stdout == b"ok"
        assert decrypt(sealed, load_identities(keys.identity_file)) == b"ok"


def test_chunk_spliced_in_from_another_file_to_the_same_recipient(keys):
    ids = load_identities(keys.identity_file)
    recipient = Recipient.parse(keys.recipient)
    a, b = encrypt(audio(CHUNK_SIZE, seed=1), [recipient]), encrypt(audio(CHUNK_SIZE, seed=2), [recipient])
    spliced = a[:chunk_span(a, 1).start] + b[chunk_span(b, 1)] + a[chunk_span(a, 1).stop:]
    with pytest.raises(ChunkCorrupted, match="chunk 1 .*holds a chunk from another file"):
        decrypt(spliced, ids)
