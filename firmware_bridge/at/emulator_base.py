"""What both AT emulators share: a thread on the pty master, command parsing, scripted calls."""
from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections import deque
from typing import Callable

from ..pty import EmulatedPort

log = logging.getLogger("firmware_bridge.at.emulator")

from .emulator_model import (_BASIC, _EXTENDED, _NUMERIC, _S_REGISTER, ENDS, OUTCOMES, OutgoingCall,
                             Script, _Call, _Response, _Wait)


class _AtEmulator:
    """The machinery both emulators share: thread, pty I/O, command parsing, call scripts."""

    def __init__(self, port: EmulatedPort, *, thread_name: str, silent: bool,
                 echo_initially: bool, ring_period: float, time_scale: float, byte_delay: float,
                 refuse: tuple[str, ...]):
        self.port = port
        self.silent = silent
        self.refuse = frozenset(name.upper() for name in refuse)   # answered ERROR, e.g. "+CHUP"
        self.byte_delay = byte_delay         # seconds between output bytes (slow-bytes fault)
        self.ring_period = ring_period       # emulated seconds
        self.time_scale = time_scale         # real seconds per emulated second
        self._echo_initially = echo_initially
        self._lock = threading.Lock()
        self._requests: deque[tuple[Callable[[], None], threading.Event | None]] = deque()
        self._scripts: deque[Script] = deque()
        self._dial_specs: deque[OutgoingCall] = deque()
        self._script: Script | None = None
        self._wait: _Wait | None = None
        self._call: _Call | None = None
        self._out = bytearray()
        self._out_blocked = False
        self._next_byte_at = 0.0
        self._inbuf = bytearray()
        self._interleave: list[str] = []
        self._commands: list[str] = []
        self.command_times: list[tuple[float, str]] = []   # (time.monotonic() on receipt, line)
        self._idle = threading.Condition()
        self._is_idle = True
        self._stopping = False
        self.crashed: BaseException | None = None
        self._reset_modem()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name=thread_name,
                                                                 daemon=True)
        self._thread.start()

    # ---- public, thread-safe -------------------------------------------------------------

    @property
    def commands(self) -> list[str]:
        """Every AT command line received, in order (what the host actually sent)."""
        return list(self._commands)

    def inject(self, data: bytes) -> None:
        """Garbage (or anything) straight onto the wire."""
        self._submit(lambda: self._send(bytes(data)))

    def interleave_next_response(self, *lines: str) -> None:
        """Print these URC lines between the next command's information lines and its result."""
        self._submit(lambda: self._interleave.extend(lines))

    def unplug(self) -> None:
        """USB cable out: the host sees EIO; the module loses its state and any call."""
        self._submit(self._do_unplug, wait=True)

    def replug(self) -> None:
        """A fresh pty behind the same path; the module boots with factory settings."""
        self._submit(self._do_replug, wait=True)

    def outgoing_call(self, number: str = "", *, outcome: str = "answered", alert_s: float = 2.0,
                      talk_s: float = 10.0, end: str = "remote") -> None:
        """Script what happens to the host's next ATD (without a script: answered, 10 s)."""
        if outcome not in OUTCOMES or end not in ENDS:
            raise ValueError(f"outcome in {OUTCOMES}, end in {ENDS}")
        spec = OutgoingCall(number, outcome, alert_s, talk_s, end)
        self._submit(lambda: self._dial_specs.append(spec))

    def busy(self, number: str = "") -> None:
        """The next number the host dials is busy."""
        self.outgoing_call(number, outcome="busy", alert_s=0.5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no call script runs or is queued and all output is on the wire."""
        with self._idle:
            done = self._idle.wait_for(lambda: self._is_idle or self.crashed is not None, timeout)
        if self.crashed is not None:
            raise RuntimeError("emulator thread crashed") from self.crashed
        return done

    def stop(self) -> None:
        """Stop the thread (idempotent). The EmulatedPort stays with its owner."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake()
        thread.join(5.0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- subclass hooks ------------------------------------------------------------------

    def _reset_modem(self) -> None:
        """Power-on settings."""
        self.echo = self._echo_initially
        self.verbose = True
        self._call = None

    def _extended(self, name: str, arg: str, resp: _Response) -> str | None:
        return "ERROR"

    def _basic(self, letter: str, digits: str, resp: _Response) -> str | None:
        return "ERROR"

    def _dial(self, dial_string: str, resp: _Response) -> str | None:
        return "ERROR"

    # ---- thread --------------------------------------------------------------------------

    def _submit(self, fn: Callable[[], None], wait: bool = False) -> None:
        if self._thread is None:
            raise RuntimeError("emulator stopped")
        done = threading.Event() if wait else None
        with self._idle:
            self._is_idle = False
        with self._lock:
            self._requests.append((fn, done))
        self._wake()
        if done is not None and not done.wait(5.0):
            raise TimeoutError("emulator thread did not respond")

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._run_requests()
                now = time.monotonic()
                self._step_scripts(now)
                # Busy is published before any byte goes out: a host that has seen the answer
                # to a command that started a call must not find the emulator "idle".
                self._update_idle()
                self._flush(now)
                self._update_idle()
                self._wait_for_io(now)
        except BaseException as exc:            # a test must see it, not hang
            log.exception("emulator thread crashed")
            self.crashed = exc
            with self._idle:
                self._idle.notify_all()

    def _run_requests(self) -> None:
        while True:
            with self._lock:
                if not self._requests:
                    return
                fn, done = self._requests.popleft()
            fn()
            if done is not None:
                done.set()

    def _wait_for_io(self, now: float) -> None:
        timeout = 1.0
        if self._wait is not None and self._wait.deadline is not None:
            timeout = min(timeout, max(0.0, self._wait.deadline - now))
        if self._out and self.byte_delay > 0 and not self._out_blocked:
            timeout = min(timeout, max(0.0, self._next_byte_at - now))
        fd = self.port.master_fd
        rfds = [self._wake_r] + ([fd] if fd >= 0 else [])
        wfds = [fd] if fd >= 0 and self._out_blocked else []
        readable, writable, _ = select.select(rfds, wfds, [], timeout)
        if self._wake_r in readable:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        if fd in writable:
            self._out_blocked = False
        self._run_requests()                     # requests made before this input go first
        if fd >= 0 and fd in readable and self.port.master_fd == fd:
            data = self.port.read()
            if data:
                self._on_input(data)

    def _update_idle(self) -> None:
        with self._lock:
            pending_requests = bool(self._requests)
        idle = (not pending_requests and self._script is None and not self._scripts
                and not self._out)
        with self._idle:
            if idle != self._is_idle:
                self._is_idle = idle
                self._idle.notify_all()

    # ---- scripts -------------------------------------------------------------------------

    def _sleep(self, emulated_s: float | None, until: Callable[[], bool] | None = None) -> _Wait:
        deadline = None if emulated_s is None else time.monotonic() + emulated_s * self.time_scale
        return _Wait(deadline, until)

    def _step_scripts(self, now: float) -> None:
        while True:
            if self._script is None:
                if not self._scripts:
                    return
                self._script, self._wait = self._scripts.popleft(), None
            wait = self._wait
            if wait is not None:
                due = wait.deadline is not None and now >= wait.deadline
                if not due and not (wait.until is not None and wait.until()):
                    return
            try:
                self._wait = next(self._script)
            except StopIteration:
                self._script, self._wait = None, None

    def _start_script(self, script: Script, first: bool = False) -> None:
        if first:
            self._scripts.appendleft(script)
        else:
            self._scripts.append(script)

    # ---- output --------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self.silent or not self.port.plugged:
            return
        self._out += data

    def _flush(self, now: float) -> None:
        fd = self.port.master_fd
        if fd < 0:
            self._out.clear()
            return
        while self._out and not self._out_blocked:
            if self.byte_delay > 0:
                if now < self._next_byte_at:
                    return
                chunk = self._out[:1]
                self._next_byte_at = now + self.byte_delay
            else:
                chunk = self._out
            try:
                written = os.write(fd, chunk)
            except BlockingIOError:
                self._out_blocked = True
                return
            except OSError:
                self._out.clear()
                return
            del self._out[:written]
            if self.byte_delay > 0:
                return

    def _text_line(self, text: str) -> bytes:
        """An information text or URC line in the current V format."""
        encoded = text.encode("utf-8")
        return b"\r\n" + encoded + b"\r\n" if self.verbose else encoded + b"\r\n"

    def _result_line(self, code: str) -> bytes:
        """A result code (OK, RING, NO CARRIER ...): verbose text, or a digit and CR under ATV0."""
        if self.verbose:
            return b"\r\n" + code.encode("ascii") + b"\r\n"
        numeric = _NUMERIC.get(code)
        return (numeric + "\r").encode("ascii") if numeric else code.encode("ascii") + b"\r\n"

    def _urc(self, text: str) -> None:
        self._send(self._text_line(text))

    def _result_urc(self, code: str) -> None:
        self._send(self._result_line(code))

    # ---- input ---------------------------------------------------------------------------

    def _on_input(self, data: bytes) -> None:
        if self.silent:
            return
        self._inbuf += data
        while True:
            end = self._inbuf.find(b"\r")
            if end < 0:
                if len(self._inbuf) > 4096:      # a real module's line buffer overflows too
                    self._inbuf.clear()
                return
            line = bytes(self._inbuf[:end]).replace(b"\n", b"")
            del self._inbuf[:end + 1]
            if self.echo:
                self._send(line + b"\r")
            text = line.decode("ascii", "replace").strip()
            if text[:2].upper() == "AT":
                self._commands.append(text)
                self.command_times.append((time.monotonic(), text))
                self._execute(text[2:])

    def _execute(self, body: str) -> None:
        resp = _Response()
        final = self._run_body(body, resp)
        for chunk in resp.before:
            self._send(chunk)
        for text in self._interleave:
            self._urc(text)
        self._interleave = []
        if final is not None:
            self._send(self._result_line(final))
        for chunk in resp.after:
            self._send(chunk)

    def _run_body(self, body: str, resp: _Response) -> str | None:
        """Run each command on the line; the first error stops it. None: the result comes later."""
        if body[:1] in ("D", "d"):
            return self._dial(body[1:].strip(), resp)
        i = 0
        while i < len(body):
            ch = body[i]
            if ch in "; ":
                i += 1
                continue
            if ch in "+#^$*":
                match = _EXTENDED.match(body, i)
                if match is None:
                    return "ERROR"
                name_end = i + 1
                while name_end < match.end() and body[name_end].isalnum():
                    name_end += 1
                name = body[i:name_end].upper()
                if name in self.refuse:
                    return "ERROR"
                outcome = self._extended(name, body[name_end:match.end()], resp)
            elif ch in "Ss":
                match = _S_REGISTER.match(body, i)
                if match is None:
                    return "ERROR"
                outcome = None
                if match.group(2) == "?":
                    resp.before.append(self._text_line("000"))
            else:
                match = _BASIC.match(body, i)
                if match is None:
                    return "ERROR"
                outcome = self._basic(match.group(1).upper(), match.group(2), resp)
            if outcome is not None:
                return outcome
            i = match.end()
        return "OK"

    def _common_basic(self, letter: str, digits: str) -> str | None:
        """E, V, Q, Z and the harmless ones; returns "" when `letter` is not one of them."""
        value = int(digits) if digits else 0
        if letter == "E":
            self.echo = value == 1
        elif letter == "V":
            self.verbose = value == 1
        elif letter == "Z":
            self._reset_modem()
        elif letter in ("Q", "L", "M", "X", "&F", "&D", "&C", "&K", "&W"):
            pass
        else:
            return ""
        return None

    # ---- faults --------------------------------------------------------------------------

    def _do_unplug(self) -> None:
        self.port.unplug()
        self._out.clear()
        self._out_blocked = False
        self._inbuf.clear()
        self._scripts.clear()
        self._script, self._wait = None, None
        self._call = None

    def _do_replug(self) -> None:
        self._do_unplug()
        self.port.replug()
        self._reset_modem()
