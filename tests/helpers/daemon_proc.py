"""Run the real daemon (`python -m appliance run`) as a subprocess; readiness via a real NOTIFY_SOCKET."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path


class DaemonProcess:
    def __init__(self, config_path: Path, *, env: dict | None = None):
        self.config_path = Path(config_path)
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen | None = None
        self.log_lines: list[str] = []
        self.notifications: list[str] = []
        self._sock_dir = tempfile.mkdtemp(prefix="notify-")
        self._sock_path = os.path.join(self._sock_dir, "notify.sock")
        self._sock: socket.socket | None = None
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float = 20.0) -> "DaemonProcess":
        self._ready.clear()
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.bind(self._sock_path)
            t = threading.Thread(target=self._recv, name="test-notify", daemon=True)
            t.start()
            self._threads.append(t)
        env = dict(self.env, NOTIFY_SOCKET=self._sock_path, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "appliance", "run", "--config", str(self.config_path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        t = threading.Thread(target=self._pump, args=(self.proc,), name="test-daemon-log", daemon=True)
        t.start()
        self._threads.append(t)
        if not self._ready.wait(timeout):
            self.kill()
            raise AssertionError("daemon did not send READY=1 within %ss; log:\n%s" % (timeout, self.log_text()))
        return self

    def _recv(self) -> None:
        sock = self._sock
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return   # shut down by close()
            text = data.decode()
            self.notifications.append(text)
            if "READY=1" in text.split("\n"):
                self._ready.set()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.log_lines.append(line.rstrip("\n"))

    def log_text(self) -> str:
        return "\n".join(self.log_lines)

    def kill(self) -> None:
        """A real kill -9: no cleanup runs in the daemon."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        return self.proc.returncode if self.proc else 0

    def close(self) -> None:
        self.kill()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)   # wakes the receiving thread
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        for t in self._threads:
            t.join(2)
        try:
            os.unlink(self._sock_path)
            os.rmdir(self._sock_dir)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
