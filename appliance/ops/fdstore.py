"""The service manager's file-descriptor store for the devices: stable names, hand-back at start, removal on close."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

log = logging.getLogger("appliance.fdstore")


def fd_name(device: str, local: str) -> str:
    """`<device>.<local>` (e.g. `ipo.listen`, `ipo.conn3`, `kxtda.port`): stable across restarts.

    A device name is letters, digits, '-' and '_' (config), but letters may be non-ASCII, which
    FDNAME= refuses: those are percent-encoded, so the name stays unique and reversible.
    """
    return f"{quote(device, safe='-_')}.{local}"


def split_fd_name(name: str) -> tuple[str, str] | None:
    """fd_name()'s inverse; None for a name this daemon did not give."""
    device, sep, local = name.partition(".")
    return (unquote(device), local) if sep and device and local else None


class FdStore:
    """Keeps each device's descriptors in the manager's store while they are open, by stable name.

    At start, `take(device)` hands a device what the store gave back (`listen_fds()`); once every
    device has taken its own, `discard_unclaimed()` closes the rest and removes them from the
    store (a device removed from the config, an older version's name). While running, `update()`
    stores what a device opened and removes what it closed: a descriptor left in the store would
    keep a connection or a port open after the daemon let it go. Without a manager (no
    $NOTIFY_SOCKET) it only hands back what was passed and sends nothing.
    """

    def __init__(self, notifier, inherited: Sequence[tuple[str, int]] = ()):
        self._notifier = notifier
        self._inherited: dict[str, dict[str, int]] = {}
        self._unclaimed: list[tuple[str, int]] = []
        for name, fd in inherited:
            parts = split_fd_name(name)
            if parts is None:
                self._unclaimed.append((name, fd))
            elif parts[1] in self._inherited.setdefault(parts[0], {}):
                # Stored twice under one name: one copy is enough; removing the name later removes both.
                _close(fd)
            else:
                self._inherited[parts[0]][parts[1]] = fd

    def take(self, device: str) -> dict[str, int]:
        """The descriptors kept for `device` (local name -> fd); the caller owns them from now on."""
        fds = self._inherited.pop(device, {})
        if fds:
            log.info("%s: taking over %s kept by the service manager across the restart",
                     device, ", ".join(sorted(fds)))
        return fds

    def discard_unclaimed(self) -> None:
        """Close what no device took, here and in the store."""
        leftovers = self._unclaimed + [(fd_name(device, local), fd) for device, fds in self._inherited.items()
                                       for local, fd in fds.items()]
        self._unclaimed, self._inherited = [], {}
        for name, fd in leftovers:
            log.warning("fd store: %s belongs to no configured device: closed and removed", name)
            _close(fd)
            if self._notifier is not None:
                self._notifier.remove_fds(name)

    def update(self, device: str, added: dict[str, int], removed: Iterable[str]) -> None:
        """`device` closed `removed` and opened `added` (local names): the store follows."""
        if self._notifier is None:
            return
        for local in removed:
            self._notifier.remove_fds(fd_name(device, local))
        for local, fd in added.items():
            self._notifier.store_fds(fd_name(device, local), [fd])


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
