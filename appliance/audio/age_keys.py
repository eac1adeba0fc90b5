"""age X25519 recipients (`age1…`) and identities (`AGE-SECRET-KEY-1…`): Bech32, generation, key wrapping."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .age_header import AgeError, Stanza, b64decode, b64encode

RECIPIENT_HRP = "age"
IDENTITY_HRP = "AGE-SECRET-KEY-"
X25519_LABEL = b"age-encryption.org/v1/X25519"
FILE_KEY_SIZE = 16
_ZERO_NONCE = bytes(12)

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AgeKeyError(AgeError, ValueError):
    """A recipient or identity string (or identity file) is malformed."""


# -- Bech32 (BIP 173, without its 90-character limit, as the age spec says) --------------------------

def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, gen in enumerate(_GENERATORS):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], frm: int, to: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & ((1 << to) - 1))
    if pad:
        if bits:
            out.append((acc << (to - bits)) & ((1 << to) - 1))
    elif bits >= frm or (acc << (to - bits)) & ((1 << to) - 1):
        raise AgeKeyError("Bech32 data has invalid padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 of `data`; upper-case output when `hrp` is upper-case (the checksum is over lower case)."""
    low = hrp.lower()
    values = _convert(data, 8, 5, True)
    check = _polymod(_hrp_expand(low) + values + [0] * 6) ^ 1
    values += [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    text = low + "1" + "".join(_CHARSET[v] for v in values)
    return text.upper() if hrp.isupper() else text


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(hrp as written, data); raises AgeKeyError on mixed case, bad characters or a bad checksum."""
    if text.lower() != text and text.upper() != text:
        raise AgeKeyError("mixed upper and lower case")
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise AgeKeyError("no Bech32 separator '1' where one is expected")
    hrp, low = text[:pos], text.lower()
    if not all(33 <= ord(c) <= 126 for c in hrp):
        raise AgeKeyError("invalid character in the Bech32 prefix")
    try:
        values = [_CHARSET.index(c) for c in low[pos + 1:]]
    except ValueError:
        raise AgeKeyError("invalid Bech32 character") from None
    if _polymod(_hrp_expand(low[:pos]) + values) != 1:
        raise AgeKeyError("Bech32 checksum mismatch (a typo in the key?)")
    return hrp, bytes(_convert(values[:-6], 5, 8, False))


# -- keys ----------------------------------------------------------------------------------------------

def fingerprint(public_key: bytes) -> str:
    """Short public name of a recipient: the first 8 bytes of SHA-256 of its 32-byte key, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _decode_key(text: str, hrp: str, what: str, expected: str) -> bytes:
    """The 32-byte key of a Bech32 string with prefix `hrp`; errors name `what` (never a secret)."""
    try:
        got, key = bech32_decode(text.strip())
    except AgeKeyError as exc:
        raise AgeKeyError(f"malformed {what}: {exc}") from None
    if got != hrp or len(key) != 32:
        raise AgeKeyError(f"malformed {what}: not {expected}")
    return key


def _wrap_key(shared: bytes, ephemeral_share: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_share + recipient,
                info=X25519_LABEL).derive(shared)


@dataclass(frozen=True, slots=True)
class Recipient:
    """An X25519 recipient (public key): anyone holding it can encrypt, nobody can decrypt with it."""
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> "Recipient":
        return cls(_decode_key(text, RECIPIENT_HRP, f"recipient {text[:90]!r}", "an X25519 'age1…' recipient"))

    def __str__(self) -> str:
        return bech32_encode(RECIPIENT_HRP, self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def wrap(self, file_key: bytes, ephemeral_secret: bytes | None = None) -> Stanza:
        """The `-> X25519 <share>` stanza wrapping `file_key`; a fresh ephemeral secret unless given."""
        secret = X25519PrivateKey.from_private_bytes(ephemeral_secret or os.urandom(32))
        share = secret.public_key().public_bytes_raw()
        try:
            shared = secret.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        except ValueError:   # a low-order point: the shared secret would be all zeros
            raise AgeKeyError(f"recipient {self} is not a usable X25519 key") from None
        body = ChaCha20Poly1305(_wrap_key(shared, share, self.public_key)).encrypt(_ZERO_NONCE, file_key, None)
        return Stanza("X25519", (b64encode(share),), body)


class Identity:
    """An X25519 identity (secret key). Never printed or logged: repr shows the recipient only."""
    __slots__ = ("_secret", "recipient")

    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise AgeKeyError("an X25519 identity is 32 bytes")
        self._secret = X25519PrivateKey.from_private_bytes(secret)
        self.recipient = Recipient(self._secret.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> "Identity":
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> "Identity":
        return cls(_decode_key(text, IDENTITY_HRP, "identity", "an 'AGE-SECRET-KEY-1…' X25519 identity"))

    def encode(self) -> str:
        """The secret in its `AGE-SECRET-KEY-1…` form, for writing the identity file only."""
        return bech32_encode(IDENTITY_HRP, self._secret.private_bytes_raw())

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient})"

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """The file key if `stanza` is an X25519 stanza addressed to this identity, else None.

        Raises AgeError for an X25519 stanza that is malformed (the spec's MUST reject)."""
        if stanza.type != "X25519":
            return None
        try:
            share = b64decode(stanza.args[0]) if len(stanza.args) == 1 else b""
        except ValueError:
            share = b""
        if len(share) != 32 or len(stanza.body) != FILE_KEY_SIZE + 16:
            raise AgeError("malformed X25519 stanza in the header")
        try:
            shared = self._secret.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            raise AgeError("X25519 stanza with a low-order ephemeral share") from None
        try:
            return ChaCha20Poly1305(_wrap_key(shared, share, self.recipient.public_key)).decrypt(
                _ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None       # addressed to someone else


def load_identities(path: str | Path) -> list[Identity]:
    """Identities from an identity file (age-keygen format: `#` comments, one key per line)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgeKeyError(f"cannot read identity file {path}: {exc}") from None
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(Identity.parse(line))
        except AgeKeyError as exc:
            raise AgeKeyError(f"{path} line {number}: {exc}") from None
    if not found:
        raise AgeKeyError(f"no identity in {path}")
    return found
