"""Alpha signs on an emulated serial line: parses what the host writes exactly as a sign would, shows it.

    port = EmulatedPort("/tmp/wallboard")
    sign = SignEmulator(port, addresses=("01", "02"))     # two signs on one RS-485 line
    ...                                                    # the host writes to port.path
    sign.render("01")      -> "sales 3 waiting, longest 1:05"   (what the sign shows now)
    sign.colour("01")      -> "amber"
    sign.counts("01")      -> Counter({"G": 12, "A": 1, "E$": 1})   (commands applied, by code;
                                                                 "E$", "F$", "Es", "A0" name theirs)
    sign.stop(); port.close()

Per sign: the memory table (E$ replaces it and empties every file), TEXT and STRING files (writes
to unallocated labels or past a file's size are refused), the priority file '0'. Reads F$, H and
B are answered with type-'0' address-"00" packets, as signs do. A packet with a bad checksum, or
with a gap of more than `gap_s` between its bytes, is dropped. With `ack` (or after the host sent
Es1) each packet addressed to a sign is answered ACK/NAK + status byte (0x40 | reasons).
Packets for other addresses are ignored; on a shared line only the first addressed sign answers.

Faults: `nak_next(n, status)` refuses the next n packets, `ignore_next(n)` loses them (no ACK),
`replies=False` is a sign with no transmit wire (never answers anything), `inject(bytes)` puts
noise on the line, `unplug()` / `replug(reset=...)` (reset: memory lost, as after a power cycle).
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from ..events import SignFile
from ..pty import EmulatedPort
from .alpha import (CALL_STRING, COLOUR_CODE, COLOUR_NAMES, ESC, PRIORITY_LABEL, RESPONSE_TYPE,
                    command, packet, parse_memory_table)
from .framing import ACK, NAK, FrameError, Framer, Packet

log = logging.getLogger("firmware_bridge.wallboard.emulator")

OK, ILLEGAL, CHECKSUM, OVERFLOW, TIMEOUT = 0x40, 0x60, 0x50, 0x48, 0x44
_SKIP_WITH_ARG = {0x0B: 1, 0x14: 1, 0x1A: 1, 0x1D: 2, 0x1E: 1}   # control codes with argument bytes


@dataclass
class _Sign:
    address: str
    ack: bool
    files: dict[str, SignFile] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)
    strings: dict[str, bytes] = field(default_factory=dict)
    priority: bytes | None = None
    counts: Counter = field(default_factory=Counter)

    def hears(self, address: str) -> bool:
        if address == "00" or self.address == "00":
            return True
        return all(p in ("?", s) for p, s in zip(address.upper(), self.address))


class SignEmulator:
    """One or more Alpha signs behind one EmulatedPort, run by a background thread."""

    def __init__(self, port: EmulatedPort, addresses: tuple[str, ...] = ("00",), *,
                 ack: bool = False, replies: bool = True, gap_s: float = 1.0,
                 name: str = "alpha-sign"):
        self.port = port
        self.replies = replies
        self.gap_s = gap_s
        self._ack_initially = ack
        self._signs = [_Sign(a.upper(), ack) for a in addresses]
        self._framer = Framer(gap_s=gap_s)
        self._lock = threading.RLock()        # wait_until's condition reads state under it
        self._changed = threading.Condition(self._lock)
        self._requests: list[tuple[Callable[[], None], threading.Event]] = []
        self._nak: list[int] = []
        self._ignore = 0
        self.packets = self.foreign = self.checksum_errors = self.aborted = self.garbage = 0
        self.crashed: BaseException | None = None
        # What each sign showed from when: (time.monotonic() the packet was read, address, text,
        # bytes of that packet on the wire), one entry per change of the shown text.
        self.shown_history: list[tuple[float, str, str, int]] = []
        self._last_shown: dict[str, str] = {}
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name=name,
                                                                 daemon=True)
        self._thread.start()

    # ---- what the sign shows (thread-safe) ------------------------------------------------------

    def render(self, address: str | None = None, label: str | None = None) -> str:
        """The shown text: the priority file if set, else every TEXT file in table order, one a line."""
        with self._lock:
            sign = self._sign(address)
            return "\n".join(_render(body, sign.strings) for body in self._shown(sign, label))

    def colour(self, address: str | None = None, label: str | None = None) -> str | None:
        """The first colour the shown text sets ("red", "green", "amber" ...), None if it sets none."""
        with self._lock:
            for body in self._shown(self._sign(address), label):
                found = _first_colour(body)
                if found is not None:
                    return found
        return None

    def files(self, address: str | None = None) -> tuple[SignFile, ...]:
        with self._lock:
            return tuple(self._sign(address).files.values())

    def strings(self, address: str | None = None) -> dict[str, bytes]:
        with self._lock:
            return dict(self._sign(address).strings)

    def counts(self, address: str | None = None) -> Counter:
        """Commands applied to this sign (None: all signs), by code ("E$", "A", "G", "F$", "H" ...)."""
        with self._lock:
            signs = self._signs if address is None else [self._sign(address)]
            return sum((Counter(s.counts) for s in signs), Counter())

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until condition() holds after some packet was handled (or timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or self.crashed is not None:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    # ---- faults (thread-safe) --------------------------------------------------------------------

    def nak_next(self, count: int = 1, status: int = ILLEGAL) -> None:
        with self._lock:
            self._nak += [status] * count

    def ignore_next(self, count: int = 1) -> None:
        with self._lock:
            self._ignore += count

    def inject(self, data: bytes) -> None:
        self._submit(lambda: self._send(data))

    def unplug(self) -> None:
        self._submit(self._do_unplug)

    def replug(self, reset: bool = False) -> None:
        """A new pty behind the same path; `reset` also loses the signs' memory (a power cycle)."""
        def replug() -> None:
            self._do_unplug()
            self.port.replug()
            if reset:
                with self._lock:
                    self._signs = [_Sign(s.address, self._ack_initially) for s in self._signs]
        self._submit(replug)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        os.write(self._wake_w, b"!")
        thread.join(5.0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    close = stop

    def __enter__(self) -> "SignEmulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the thread ----------------------------------------------------------------------------

    def _submit(self, fn: Callable[[], None]) -> None:
        if self._thread is None:
            raise RuntimeError("emulator stopped")
        done = threading.Event()
        with self._lock:
            self._requests.append((fn, done))
        os.write(self._wake_w, b"!")
        if not done.wait(5.0):
            raise TimeoutError("sign emulator thread did not respond")

    def _run(self) -> None:
        try:
            while not self._stopping:
                fd = self.port.master_fd
                ready = select.select([self._wake_r] + ([fd] if fd >= 0 else []), [], [], 0.1)[0]
                if self._wake_r in ready:
                    os.read(self._wake_r, 4096)
                with self._lock:
                    requests, self._requests = self._requests, []
                for fn, done in requests:
                    fn()
                    done.set()
                now = time.monotonic()
                items = self._framer.expire(now)
                if fd >= 0 and fd in ready and self.port.master_fd == fd:
                    data = self.port.read()
                    if data:
                        items += self._framer.feed(data, now)
                for item in items:
                    self._handle(item)
                    if isinstance(item, Packet):
                        self._note_shown(now, len(item.raw))
                if items:
                    with self._changed:
                        self._changed.notify_all()
        except BaseException as exc:            # a test must see it, not hang
            log.exception("sign emulator thread crashed")
            self.crashed = exc

    def _note_shown(self, now: float, size: int) -> None:
        with self._lock:
            for sign in self._signs:
                text = "\n".join(_render(body, sign.strings) for body in self._shown(sign, None))
                if text != self._last_shown.get(sign.address):
                    self._last_shown[sign.address] = text
                    self.shown_history.append((now, sign.address, text, size))

    def _do_unplug(self) -> None:
        self.port.unplug()
        self._framer = Framer(gap_s=self.gap_s)

    def _send(self, data: bytes) -> None:
        if self.port.plugged:
            try:
                self.port.write(data)
            except OSError:
                pass

    # ---- one packet, as a sign handles it ----------------------------------------------------

    def _handle(self, item: Packet | FrameError) -> None:
        if isinstance(item, FrameError):
            self._bad_frame(item)
            return
        with self._lock:
            targets = [s for s in self._signs if s.hears(item.address)]
            if not targets:
                self.foreign += 1
                return
            self.packets += 1
            if self._ignore:
                self._ignore -= 1
                return
            status = self._nak.pop(0) if self._nak else OK
            replies: list[bytes] = []
            if status == OK:
                for sign in targets:
                    for cmd in item.commands:
                        result, reply = self._apply(sign, cmd.code, cmd.data)
                        status = status if status != OK else result
                        if reply and sign is targets[0]:
                            replies.append(reply)
            answer = self.replies and targets[0].ack
        if answer:
            self._send(bytes([ACK if status == OK else NAK, status]))
        if self.replies:
            for reply in replies:
                self._send(reply)

    def _bad_frame(self, item: FrameError) -> None:
        with self._lock:
            if item.kind == "garbage":
                self.garbage += len(item.raw)
                return
            if item.kind == "checksum":
                self.checksum_errors += 1
            else:
                self.aborted += 1
            status = {"checksum": CHECKSUM, "gap": TIMEOUT}.get(item.kind)
            targets = [s for s in self._signs if item.address and s.hears(item.address)]
            answer = status is not None and targets and targets[0].ack and self.replies
        if answer:
            self._send(bytes([NAK, status]))

    def _apply(self, sign: _Sign, code: str, data: bytes) -> tuple[int, bytes]:
        """Run one command on one sign: (status, reply packet or b"")."""
        label, body = chr(data[0]) if data else "", data[1:]
        key = code + label if code in "EF" or (code == "A" and label == PRIORITY_LABEL) else code
        if code == "E" and label == "$":
            try:
                table = parse_memory_table(body)
            except ValueError:
                return ILLEGAL, b""
            sign.files = {f.label: f for f in table}
            sign.texts.clear()
            sign.strings.clear()
        elif code == "E":
            if label == "s":
                sign.ack = body[:1] == b"1"
        elif code == "A" and label == PRIORITY_LABEL:
            sign.priority = body or None
        elif code in "AG" and label:
            kind, store = ("text", sign.texts) if code == "A" else ("string", sign.strings)
            spec = sign.files.get(label)
            if spec is None or spec.kind != kind:
                return ILLEGAL, b""
            if len(body) > spec.size:
                return OVERFLOW, b""
            store[label] = body
        elif code == "F" and label == "$":
            table = b"".join(_entry(f) for f in sign.files.values())
            sign.counts[key] += 1
            return OK, _response("E", b"$" + table)
        elif code in "HB" and label:
            store = sign.strings if code == "H" else sign.texts
            if label not in store:
                return ILLEGAL, b""
            sign.counts[key] += 1
            return OK, _response("G" if code == "H" else "A", label.encode() + store[label])
        else:
            return ILLEGAL, b""
        sign.counts[key] += 1
        return OK, b""

    def _sign(self, address: str | None) -> _Sign:
        """The sign at `address`; None: the first (the only one, usually)."""
        if address is None:
            return self._signs[0]
        for sign in self._signs:
            if sign.address == address.upper():
                return sign
        raise KeyError(f"no emulated sign at address {address!r}")

    @staticmethod
    def _shown(sign: _Sign, label: str | None) -> list[bytes]:
        if label is not None:
            return [sign.texts.get(label, b"")]
        if sign.priority is not None:
            return [sign.priority]
        return [sign.texts[f.label] for f in sign.files.values() if f.label in sign.texts]


def _response(code: str, data: bytes) -> bytes:
    return packet(command(code, data), address="00", type_code=RESPONSE_TYPE)


def _entry(f: SignFile) -> bytes:
    kind = {"text": "A", "string": "B", "dots": "D"}[f.kind]
    return f"{f.label}{kind}{'L' if f.locked else 'U'}{f.size:04X}{f.times}".encode("ascii")


def _message(body: bytes) -> bytes:
    """A TEXT file's message without its ESC position mode [n special] prefix."""
    if body[:1] != bytes([ESC]) or len(body) < 3:
        return body
    return body[5:] if body[3:4] == b"n" else body[3:]


def _render(body: bytes, strings: dict[str, bytes]) -> str:
    out, msg, i = [], _message(body), 0
    while i < len(msg):
        byte = msg[i]
        if byte == CALL_STRING and i + 1 < len(msg):
            out.append(_render(strings.get(chr(msg[i + 1]), b""), {}))
            i += 2
        elif byte == COLOUR_CODE:
            i += 2
        elif byte in (0x0C, 0x0D):
            out.append("\n")
            i += 1
        elif byte < 0x20:
            i += 1 + _SKIP_WITH_ARG.get(byte, 0)
        else:
            out.append(chr(byte))
            i += 1
    return "".join(out)


def _first_colour(body: bytes) -> str | None:
    msg = _message(body)
    at = msg.find(bytes([COLOUR_CODE]))
    if at < 0 or at + 1 >= len(msg):
        return None
    return COLOUR_NAMES.get(chr(msg[at + 1]), chr(msg[at + 1]))
