"""The published test vector of docs/recording-format.md: one segment built with fixed (injected) randomness."""
from __future__ import annotations

from .age import FixedRandomness, encrypt
from .age_keys import Identity
from .segment_meta import SegmentMeta

# Never use these values for anything but reproducing the vector.
IDENTITY_SECRET = bytes([0x42]) * 32
EPHEMERAL_SECRET = bytes([0x07]) * 32
FILE_KEY = bytes(range(16))
NONCE = bytes(range(16, 32))
CALL_KEY = "site-a/pbx1/1001"
PLAINTEXT = bytes(range(32))          # 8 stereo S16LE frames


def build() -> tuple[Identity, SegmentMeta, bytes]:
    """(identity, metadata, exact file bytes) of the vector."""
    identity = Identity(IDENTITY_SECRET)
    meta = SegmentMeta(CALL_KEY, 0, 8000, 2, 0, (identity.recipient.fingerprint,))
    fixed = FixedRandomness(FILE_KEY, (EPHEMERAL_SECRET,), NONCE)
    return identity, meta, encrypt(PLAINTEXT, [identity.recipient], extra_stanzas=[meta.to_stanza()], fixed=fixed)
