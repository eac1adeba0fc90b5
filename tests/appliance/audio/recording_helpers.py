"""Shared by the recording tests: keys from Debian's age-keygen, the real age binary, deterministic audio."""
from __future__ import annotations

import io
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from appliance.audio.age import CHUNK_SIZE, NONCE_SIZE, SEALED_CHUNK_SIZE
from appliance.audio.age_header import read_header


@dataclass(frozen=True)
class KeyPair:
    identity_file: Path
    recipient: str


def keygen(directory: Path, name: str = "id") -> KeyPair:
    """A key pair made by the reference implementation's own age-keygen."""
    path = directory / f"{name}.txt"
    done = subprocess.run(["age-keygen", "-o", str(path)], capture_output=True, text=True, check=True)
    recipient = done.stderr.strip().split()[-1]
    assert recipient.startswith("age1")
    return KeyPair(path, recipient)


def age_decrypt(identity: Path, data: bytes) -> subprocess.CompletedProcess:
    """Decrypt with Debian's `age -d -i` (stdin to stdout); caller checks returncode/stdout/stderr."""
    return subprocess.run(["age", "-d", "-i", str(identity)], input=data, capture_output=True, timeout=60)


def age_encrypt(recipients: list[str], data: bytes) -> bytes:
    args = ["age"]
    for r in recipients:
        args += ["-r", r]
    return subprocess.run(args, input=data, capture_output=True, check=True, timeout=60).stdout


def audio(frames: int, seed: int = 1, channels: int = 2) -> bytes:
    """Deterministic noise-like S16LE frames (incompressible, so nothing can hide in padding)."""
    return random.Random(seed).randbytes(frames * channels * 2)


def payload_offset(data: bytes) -> int:
    """Where the first sealed chunk starts (after the header and the 16-byte nonce)."""
    return read_header(io.BytesIO(data)).length + NONCE_SIZE


def chunk_span(data: bytes, i: int) -> slice:
    start = payload_offset(data) + i * SEALED_CHUNK_SIZE
    return slice(start, min(len(data), start + SEALED_CHUNK_SIZE))


__all__ = ["CHUNK_SIZE", "SEALED_CHUNK_SIZE", "KeyPair", "keygen", "age_decrypt", "age_encrypt", "audio",
           "payload_offset", "chunk_span"]
