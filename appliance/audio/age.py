"""age v1 (c2sp.org/age) streaming encryption and decryption to X25519 recipients, chunk by chunk.

The writer seals each 64 KiB plaintext chunk with ChaCha20-Poly1305 as soon as it is complete and
(optionally) fsyncs it, so at most one chunk of plaintext is ever held, in memory only. The reader
verifies as it goes and names what went wrong: wrong identity, header MAC, altered or reordered
chunk, a cut file (salvage mode keeps the authentic chunks before the cut), trailing data.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .age_header import (AgeError, Header, HeaderError, HeaderMacMismatch, Stanza, marshal_header,
                         read_header, verify_mac)
from .age_keys import FILE_KEY_SIZE, AgeKeyError, Identity, Recipient, load_identities

__all__ = ["AgeError", "AgeKeyError", "AgeReader", "AgeWriter", "ChunkCorrupted", "ChunksReordered",
           "FixedRandomness", "Header", "HeaderError", "HeaderMacMismatch", "Identity", "NoIdentityMatch",
           "PayloadError", "Recipient", "Stanza", "TrailingData", "Truncated", "decrypt", "encrypt",
           "load_identities", "CHUNK_SIZE", "SEALED_CHUNK_SIZE", "NONCE_SIZE"]

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
_TRAILING_SCAN = 4096     # how far back the diagnosis looks for a final chunk followed by extra bytes
_REORDER_SCAN = 4096      # how many chunk positions the diagnosis tries for a misplaced chunk


class NoIdentityMatch(AgeError):
    """None of the identities can unwrap the file key: the file was encrypted to other recipients."""


class PayloadError(AgeError):
    """The payload does not verify."""


class ChunkCorrupted(PayloadError):
    """A chunk fails authentication: altered bytes, or a chunk from another file."""


class ChunksReordered(PayloadError):
    """An authentic chunk of this file sits at the wrong position."""


class Truncated(PayloadError):
    """The file ends without a final chunk (cut by a crash or an incomplete copy)."""


class TrailingData(PayloadError):
    """Bytes follow the final chunk."""


@dataclass(frozen=True, slots=True)
class FixedRandomness:
    """Published test vectors only: the file key, one ephemeral secret per recipient, the payload nonce."""
    file_key: bytes
    ephemeral_secrets: tuple[bytes, ...]
    nonce: bytes


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=b"payload").derive(file_key)


def chunk_nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class AgeWriter:
    """Encrypts a stream to `recipients` into `dst` (an unbuffered binary file, or BytesIO with fsync=False).

    The header and payload nonce are written (and fsynced) at construction; `write` seals every
    complete 64 KiB chunk as soon as one more byte follows it (a full chunk may turn out to be the
    final one); `close` seals the rest as the final chunk. The caller owns `dst`. After an OSError
    the writer is broken: nothing more is written, so the file stays a clean cut at a chunk edge
    or mid-chunk, never a forged end.
    """

    def __init__(self, dst: BinaryIO, recipients: Sequence[Recipient], *,
                 extra_stanzas: Sequence[Stanza] = (), fsync: bool = True, fixed: FixedRandomness | None = None):
        if not recipients:
            raise AgeKeyError("no recipient: refusing to encrypt to nobody")
        self._dst, self._fsync = dst, fsync
        file_key = fixed.file_key if fixed else os.urandom(FILE_KEY_SIZE)
        secrets = fixed.ephemeral_secrets if fixed else (None,) * len(recipients)
        stanzas = [r.wrap(file_key, s) for r, s in zip(recipients, secrets, strict=True)] + list(extra_stanzas)
        nonce = fixed.nonce if fixed else os.urandom(NONCE_SIZE)
        self._aead = ChaCha20Poly1305(payload_key(file_key, nonce))
        self._buf = bytearray()
        self._counter = 0
        self._hash = hashlib.sha256()
        self.ciphertext_bytes = 0
        self.plaintext_bytes = 0          # accepted so far
        self.sealed_bytes = 0             # of those, in chunks already written (and fsynced)
        self.closed = False
        self.broken: OSError | None = None
        self._emit(marshal_header(file_key, stanzas) + nonce)
        self.header_bytes = self.ciphertext_bytes - NONCE_SIZE

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the ciphertext written so far."""
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        if self.closed or self.broken:
            raise ValueError("write to a closed or failed AgeWriter")
        self._buf += data
        self.plaintext_bytes += len(data)
        start = 0
        while len(self._buf) - start > CHUNK_SIZE:
            self._seal(self._buf[start:start + CHUNK_SIZE], final=False)
            start += CHUNK_SIZE
        del self._buf[:start]

    def close(self) -> None:
        """Seal the final chunk (empty only when nothing was written). Idempotent; raises if broken."""
        if self.broken:
            raise self.broken
        if not self.closed:
            self._seal(self._buf, final=True)
            self._buf = bytearray()
            self.closed = True

    def _seal(self, plain: bytes | bytearray, final: bool) -> None:
        sealed = self._aead.encrypt(chunk_nonce(self._counter, final), bytes(plain), None)
        self._emit(sealed)
        self._counter += 1
        self.sealed_bytes += len(plain)

    def _emit(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = self._dst.write(view)
                if not n:
                    raise OSError("short write")
                self._hash.update(view[:n])
                self.ciphertext_bytes += n
                view = view[n:]
            if self._fsync:
                os.fsync(self._dst.fileno())
        except OSError as exc:
            self.broken = exc
            raise


def _read_exact(src: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = src.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class AgeReader:
    """Decrypts an age file from `src`, verifying as it goes; iterate for plaintext chunks.

    Construction reads the header, unwraps the file key with the first matching identity and
    checks the header MAC. Iteration yields each chunk only after it authenticates. With
    `salvage=True` a file that ends without a final chunk is not an error: iteration stops after
    the last authentic chunk, `truncated` is set and `dropped_bytes` counts an incomplete chunk
    left out. Alteration, reordering and trailing data are errors in both modes.
    """

    def __init__(self, src: BinaryIO, identities: Sequence[Identity], *, salvage: bool = False):
        if not identities:
            raise AgeKeyError("no identity given")
        self._src, self.salvage = src, salvage
        self.header = read_header(src)
        file_key = self._unwrap(identities)
        verify_mac(file_key, self.header)
        nonce = _read_exact(src, NONCE_SIZE)
        if len(nonce) < NONCE_SIZE:
            raise HeaderError("the file ends before the payload nonce: cut right after the header")
        self._aead = ChaCha20Poly1305(payload_key(file_key, nonce))
        self.payload_offset = self.header.length + NONCE_SIZE
        self.truncated = False
        self.dropped_bytes = 0
        self.chunks_read = 0
        self.plaintext_bytes = 0
        self.finished = False

    def _unwrap(self, identities: Sequence[Identity]) -> bytes:
        for identity in identities:
            for stanza in self.header.stanzas:
                file_key = identity.unwrap(stanza)
                if file_key is not None:
                    return file_key
        kinds = sorted({s.type for s in self.header.stanzas})
        raise NoIdentityMatch(f"wrong identity: none of the {len(identities)} identities given unwraps the "
                              f"file key (the file is for other recipients, or its recipient stanza was "
                              f"altered; stanza types in the header: {', '.join(kinds)})")

    def _open(self, sealed: bytes, counter: int, final: bool) -> bytes | None:
        try:
            return self._aead.decrypt(chunk_nonce(counter, final), sealed, None)
        except InvalidTag:
            return None

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def chunks(self) -> Iterator[bytes]:
        i = 0
        cur = _read_exact(self._src, SEALED_CHUNK_SIZE)
        while True:
            if not cur:
                self._cut(f"the file ends after {i} chunk(s) without a final chunk: cut by a crash "
                          f"or an incomplete copy")
                return
            nxt = _read_exact(self._src, SEALED_CHUNK_SIZE) if len(cur) == SEALED_CHUNK_SIZE else b""
            plain = self._open(cur, i, final=False) if len(cur) == SEALED_CHUNK_SIZE else None
            final = False
            if plain is None:
                plain, final = self._open(cur, i, final=True), True
            if plain is None:
                error = self._diagnose(cur, i, nxt)
                if nxt or not self.salvage or not isinstance(error, ChunkCorrupted):
                    raise error
                self.dropped_bytes = len(cur)      # salvage: an incomplete last chunk is the cut
                self._cut("the last chunk is incomplete")
                return
            if final and not plain and i > 0:
                raise ChunkCorrupted(f"chunk {i} is an empty final chunk, which the format forbids")
            self.chunks_read, self.plaintext_bytes = i + 1, self.plaintext_bytes + len(plain)
            yield plain                            # authentic on its own, like every chunk before it
            if final and nxt:
                raise TrailingData(f"data after the final chunk (chunk {i}): the file was extended or joined "
                                   f"with another")
            if final:
                self.finished = True
                return
            i, cur = i + 1, nxt

    def read_all(self) -> bytes:
        return b"".join(self.chunks())

    def _cut(self, message: str) -> None:
        if not self.salvage:
            raise Truncated(message)
        self.truncated = True

    def _chunk_count_hint(self, i: int) -> int:
        try:
            payload = os.fstat(self._src.fileno()).st_size - self.payload_offset
        except (AttributeError, OSError, io.UnsupportedOperation):
            payload = len(self._src.getbuffer()) - self.payload_offset if isinstance(self._src, io.BytesIO) else 0
        return min(_REORDER_SCAN, max(i + 2, -(-payload // SEALED_CHUNK_SIZE)))

    def _diagnose(self, sealed: bytes, i: int, following: bytes) -> PayloadError:
        """Why chunk `i` does not authenticate: misplaced, followed by extra bytes, or altered."""
        if len(sealed) == SEALED_CHUNK_SIZE:
            for j in range(self._chunk_count_hint(i)):
                if j != i and (self._open(sealed, j, False) is not None or self._open(sealed, j, True) is not None):
                    return ChunksReordered(f"chunk {i} is chunk {j} of this file: chunks were reordered")
        scan_from = len(sealed) - 1 if len(following) < SEALED_CHUNK_SIZE else 0
        for k in range(scan_from, max(TAG_SIZE, len(sealed) - _TRAILING_SCAN) - 1, -1):
            if self._open(sealed[:k], i, True) is not None:
                extra = len(sealed) - k + len(following) + sum(iter(lambda: len(self._src.read(1 << 20)), 0))
                return TrailingData(f"{extra} byte(s) of data after the final chunk (chunk {i})")
        where, cut = ("the last chunk", ", cut inside a chunk") if not following else ("a chunk", "")
        return ChunkCorrupted(f"chunk {i} ({where}, {len(sealed)} bytes at payload offset "
                              f"{i * SEALED_CHUNK_SIZE}) fails authentication: the file was altered (a "
                              f"flipped byte){cut}, or holds a chunk from another file")


def encrypt(data: bytes, recipients: Sequence[Recipient], *, extra_stanzas: Sequence[Stanza] = (),
            fixed: FixedRandomness | None = None) -> bytes:
    out = io.BytesIO()
    writer = AgeWriter(out, recipients, extra_stanzas=extra_stanzas, fsync=False, fixed=fixed)
    writer.write(data)
    writer.close()
    return out.getvalue()


def decrypt(data: bytes, identities: Sequence[Identity]) -> bytes:
    return AgeReader(io.BytesIO(data), identities).read_all()
