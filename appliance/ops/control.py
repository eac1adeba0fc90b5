"""The local control socket: `appliance status` and the commands that write ask the running daemon over it."""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import socket
from typing import Any, Callable

log = logging.getLogger("appliance.control")


class ControlServer:
    """Unix stream socket, mode 0660. One request per connection, one JSON document back.

    A request is one line: a bare command name (`status`), or a JSON object
    `{"command": NAME, "args": {...}}` for commands that take arguments. A handler is called with
    the args as keywords and may be a coroutine function (run on the loop, e.g. work handed to a
    thread); what it returns is the reply.
    """

    def __init__(self, path: str, commands: dict[str, Callable[..., Any]]):
        self.path = path
        self.commands = commands
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        if os.path.exists(self.path):
            if _alive(self.path):
                raise RuntimeError(f"another daemon answers on {self.path}")
            os.unlink(self.path)   # stale socket of a daemon that was killed
        old = os.umask(0o117)
        try:
            self._server = await asyncio.start_unix_server(self._serve, self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o660)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5.0)).decode("utf-8", "replace").strip()
            reply = await self._answer(line)
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("control: request failed")
        finally:
            writer.close()

    async def _answer(self, line: str) -> Any:
        name, args = line, {}
        if line.startswith("{"):
            try:
                request = json.loads(line)
                name, args = str(request["command"]), dict(request.get("args") or {})
            except (ValueError, KeyError, TypeError) as exc:
                return {"error": f"malformed request: {exc}"}
        handler = self.commands.get(name)
        if handler is None:
            return {"error": f"unknown command {name!r}", "commands": sorted(self.commands)}
        try:
            reply = handler(**args)
        except TypeError as exc:
            return {"error": f"{name}: {exc}"}
        return await reply if inspect.isawaitable(reply) else reply

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _alive(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class DaemonNotRunning(Exception):
    pass


def request(path: str, command: str = "status", timeout: float = 5.0, args: dict | None = None) -> dict:
    """Ask the running daemon; raises DaemonNotRunning with a technician-readable reason.

    Without `args` the request is the bare command name (what `status` always sent); with them
    it is one JSON line. `timeout` bounds each wait (a salvage may take minutes: pass more).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except FileNotFoundError:
            raise DaemonNotRunning(f"no control socket at {path}: is the daemon running? "
                                   f"(systemctl status appliance)") from None
        except ConnectionRefusedError:
            raise DaemonNotRunning(f"{path} exists but nobody answers: the daemon is not running "
                                   f"(stale socket)") from None
        except PermissionError:
            raise DaemonNotRunning(f"permission denied on {path}: run as root or as a member of the "
                                   f"appliance group") from None
        line = command if args is None else json.dumps({"command": command, "args": args})
        s.sendall(line.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return json.loads(b"".join(chunks))
