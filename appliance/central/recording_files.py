"""Recording segments on disk at the central: safe names, a locked partial file, fsynced appends, the hash check."""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
from pathlib import Path

from appliance.ops.pki import SITE_ID_PATTERN
from appliance.common.files import fsync_dir, replace_durably

SEGMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KEY_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_MAX_KEY_DIR = 200          # file systems allow 255 bytes a name; long keys are cut and made unique by a hash
PARTIAL = ".part"


class UnsafeName(ValueError):
    """A site id, call key or segment name that cannot become a path under the recordings directory."""


def key_dir_name(call_key: str) -> str:
    """A call key as one directory name: every byte outside [A-Za-z0-9_-] as %XX, so '/', '.' and '..'
    cannot occur; a long result is cut and suffixed with a hash of the whole key."""
    if not call_key:
        raise UnsafeName("empty call key")
    raw = call_key.encode("utf-8")
    name = "".join(chr(b) if b in _KEY_SAFE else f"%{b:02X}" for b in raw)
    if len(name) > _MAX_KEY_DIR:
        name = f"{name[:150]}~{hashlib.sha256(raw).hexdigest()[:32]}"
    return name


def segment_path(base: Path, site_id: str, call_key: str, name: str) -> tuple[Path, str]:
    """(absolute path, path relative to base) of a segment's final file; UnsafeName for a bad part."""
    if not SITE_ID_PATTERN.fullmatch(site_id):
        raise UnsafeName(f"unsafe site id {site_id!r}")
    if not SEGMENT_NAME.fullmatch(name) or name.endswith(PARTIAL):
        raise UnsafeName(f"unsafe segment name {name!r}: use 1-128 letters, digits, '.', '_', '-' "
                         "starting with a letter or digit")
    relative = f"{site_id}/{key_dir_name(call_key)}/{name}"
    path = (base / relative).resolve()
    if base.resolve() not in path.parents:       # defence in depth: the rules above already rule this out
        raise UnsafeName(f"{relative!r} leaves the recordings directory")
    return path, relative


class PartialSegment:
    """The partial file of one segment being uploaded, locked against a second upload of the same segment
    (another stream of this or another replica: flock works on a directory every replica mounts)."""

    def __init__(self, final: Path):
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL)
        self._fd = -1

    def open(self) -> int | None:
        """Lock and open; the durable offset (the file fsynced first), or None if another upload holds it."""
        self.partial.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        self._fd = fd
        fsync_dir(self.partial.parent)
        os.fsync(fd)
        return os.fstat(fd).st_size

    def append(self, data: bytes) -> int:
        """Append and fsync; the new durable offset."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        return os.fstat(self._fd).st_size

    def restart(self) -> None:
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def sha256(self) -> str:
        return file_sha256(self.partial)

    def finish(self) -> None:
        """Rename to the final name (durably); the lock goes with the descriptor on close()."""
        replace_durably(self.partial, self.final)

    def discard(self) -> None:
        self.partial.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
