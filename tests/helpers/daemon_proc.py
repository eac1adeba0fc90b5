"""Run the real daemon (`python -m appliance run`) as a subprocess under the test supervisor (systemd's protocol)."""
from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers.supervisor import Supervisor


class DaemonProcess(Supervisor):
    """The daemon as systemd runs it: READY=1 over NOTIFY_SOCKET, kill -9 and restart by `start()`.

    `fd_store_max` is the unit's FileDescriptorStoreMax=: 0 (systemd's default) turns the store off,
    so every restart starts with fresh sockets and ports.
    """

    def __init__(self, config_path: Path, *, env: dict | None = None, fd_store_max: int = 0):
        self.config_path = Path(config_path)
        super().__init__([sys.executable, "-m", "appliance", "run", "--config", str(self.config_path)],
                         env=env, fd_store_max=fd_store_max)
