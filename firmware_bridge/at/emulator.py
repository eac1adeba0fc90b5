"""Emulated telephony modules on a pty: a 27.007 GSM/LTE module and a V.253 voice modem.

Each emulator runs one named background thread on the pty master of an EmulatedPort. It answers
AT commands like the real module (echo until ATE0, OK / ERROR / +CME ERROR, identity, +CSQ,
+CREG, +CPIN), and plays scripted calls: RING / +CRING and +CLIP each ring cycle, VOICE CALL:
BEGIN and +CLCC when answered, NO CARRIER / VOICE CALL: END when the call ends. Time is scaled
(`time_scale=0.001` plays a 60 s call in 60 ms) but durations reported on the wire are the
scripted ones. Faults: silence, garbage, slow bytes, unplug / replug, refused commands.
"""
from __future__ import annotations

import logging
import os
import re
import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..pty import EmulatedPort

log = logging.getLogger("firmware_bridge.at.emulator")

SIM_STATES = ("READY", "missing", "pin")
ABANDON_STYLES = ("no_carrier", "missed_call", "clcc", "rings_stop")
OUTCOMES = ("answered", "busy", "no_answer", "no_carrier", "no_dialtone")
ENDS = ("remote", "local")

_NUMERIC = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4",
            "NO DIALTONE": "6", "BUSY": "7", "NO ANSWER": "8"}
_CME_TEXT = {3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
             11: "SIM PIN required", 16: "incorrect password", 100: "unknown"}
_CLCC_STAT = {"active": 0, "held": 1, "dialing": 2, "alerting": 3, "incoming": 4, "waiting": 5,
              "ended": 6}
_DIAL_RESULT = {"busy": "BUSY", "no_answer": "NO ANSWER", "no_carrier": "NO CARRIER",
                "no_dialtone": "NO DIALTONE"}
_EXTENDED = re.compile(r"[+#^$*][A-Za-z0-9]+(=\?|\?|=[^;]*)?")
_BASIC = re.compile(r"(&?[A-Za-z])(\d*)")
_S_REGISTER = re.compile(r"[Ss](\d+)(=\d*|\?)?")


@dataclass(frozen=True)
class ModuleProfile:
    """What differs between module families, as far as the host can see it."""
    manufacturer: str
    model: str
    revision: str                    # the AT+CGMR line as printed
    imei: str
    clip_style: str                  # "simcom" | "quectel" | "siemens"
    voice_call_urcs: bool            # VOICE CALL: BEGIN / END (SIMCom)
    clcc_urc: bool                   # AT+CLCC=1 automatic reports, stat 6 on disconnect
    cvhu: int | None                 # AT+CVHU default (1: ATH ignored); None: no such command


MODELS: dict[str, ModuleProfile] = {
    "SIM7600": ModuleProfile("SIMCOM INCORPORATED", "SIMCOM_SIM7600G-H",
                             "+CGMR: LE20B04SIM7600G22", "862636051234567", "simcom",
                             voice_call_urcs=True, clcc_urc=True, cvhu=1),
    "EC25": ModuleProfile("Quectel", "EC25", "EC25EFAR06A06M4G", "867698041234567", "quectel",
                          voice_call_urcs=False, clcc_urc=False, cvhu=0),
    "MC35": ModuleProfile("SIEMENS", "MC35i", "REVISION 02.00", "351234561234567", "siemens",
                          voice_call_urcs=False, clcc_urc=False, cvhu=None),
}


@dataclass(frozen=True)
class IncomingCall:
    """A scripted inbound call. `answer_after_rings=None`: only the host's ATA answers it."""
    number: str
    name: str = ""
    rings: int = 3
    answer_after_rings: int | None = None
    talk_s: float = 10.0
    end: str = "remote"              # "remote": caller hangs up after talk_s; "local": host must
    abandon_style: str = "no_carrier"
    withheld: bool = False
    unavailable: bool = False
    date: str = ""                   # V.253 only; "" = now
    time: str = ""
    ddn: bool = False                # V.253: DDN_NMBR= instead of NMBR =
    caller_id: bool = True           # V.253: False = the CID burst was lost (checksum error)


@dataclass(frozen=True)
class OutgoingCall:
    """What happens to the next ATD: ring for alert_s, then `outcome`."""
    number: str = ""                 # "" = whatever the host dials
    outcome: str = "answered"
    alert_s: float = 2.0
    talk_s: float = 10.0
    end: str = "remote"


@dataclass
class _Call:
    direction: str                   # "inbound" | "outbound"
    number: str
    state: str                       # incoming | dialing | alerting | active | ended
    name: str = ""
    withheld: bool = False
    unavailable: bool = False
    index: int = 1
    answered_at: float | None = None


@dataclass
class _Wait:
    """Resume the script at `deadline` (monotonic) or as soon as `until()` is true."""
    deadline: float | None
    until: Callable[[], bool] | None = None


@dataclass
class _Response:
    before: list[bytes] = field(default_factory=list)    # info lines, printed before the result
    after: list[bytes] = field(default_factory=list)     # URCs caused by the command


Script = Iterator[_Wait]


def hhmmss(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 3600:02d}{total % 3600 // 60:02d}{total % 60:02d}"


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


class GsmModemEmulator(_AtEmulator):
    """A 27.007 module: SIM7600 by default; "EC25" and "MC35" differ where the host can see."""

    def __init__(self, port: EmulatedPort, *, model: str = "SIM7600", sim: str = "READY",
                 silent: bool = False, echo_initially: bool = True, rssi: int = 23,
                 registration: int = 1, ring_period: float = 5.0, time_scale: float = 1.0,
                 byte_delay: float = 0.0, refuse: tuple[str, ...] = ()):
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}")
        if sim not in SIM_STATES:
            raise ValueError(f"sim must be one of {SIM_STATES}")
        self.profile = MODELS[model]
        self._sim_initial = sim
        self.rssi = rssi
        self.registration = registration     # +CREG stat: 1 home, 5 roaming, 2 searching, 3 denied
        super().__init__(port, thread_name=f"gsm-emulator-{os.path.basename(port.path)}",
                         silent=silent, echo_initially=echo_initially, ring_period=ring_period,
                         time_scale=time_scale, byte_delay=byte_delay, refuse=refuse)

    def incoming_call(self, number: str = "", *, name: str = "", rings: int = 3,
                      answer_after_rings: int | None = None, talk_s: float = 10.0,
                      end: str = "remote", abandon_style: str = "no_carrier",
                      withheld: bool = False, unavailable: bool = False) -> None:
        """Queue an inbound call; it starts when the line is free.

        Nobody answers within `rings` rings -> the caller abandons, shown per `abandon_style`:
        "no_carrier" (NO CARRIER), "missed_call" (MISSED_CALL: HH:MM <number>), "clcc"
        (+CLCC stat 6 only), "rings_stop" (nothing: the rings just stop).
        """
        if abandon_style not in ABANDON_STYLES or end not in ENDS:
            raise ValueError(f"abandon_style in {ABANDON_STYLES}, end in {ENDS}")
        spec = IncomingCall(number, name, rings, answer_after_rings, talk_s, end, abandon_style,
                            withheld, unavailable)
        self._submit(lambda: self._start_script(self._incoming(spec)))

    # ---- state ---------------------------------------------------------------------------

    def _reset_modem(self) -> None:
        super()._reset_modem()
        self.sim = self._sim_initial
        self.cmee = 0
        self.clip = False
        self.crc = False
        self.cvhu = self.profile.cvhu
        self.clcc_reports = False
        self.creg_n = 0

    def _cme(self, code: int) -> str:
        if self.cmee == 1:
            return f"+CME ERROR: {code}"
        if self.cmee == 2:
            return f"+CME ERROR: {_CME_TEXT.get(code, 'unknown')}"
        return "ERROR"

    # ---- commands ------------------------------------------------------------------------

    def _basic(self, letter: str, digits: str, resp: _Response) -> str | None:
        common = self._common_basic(letter, digits)
        if common != "":
            return common
        if letter == "I":
            p = self.profile
            for text in (f"Manufacturer: {p.manufacturer}", f"Model: {p.model}",
                         f"Revision: {p.revision.split(': ')[-1]}", f"IMEI: {p.imei}",
                         "+GCAP: +CGSM"):
                resp.before.append(self._text_line(text))
            return None
        if letter == "A":
            return self._answer(resp)
        if letter == "H":
            if self.cvhu == 1:
                return None                      # SIM7600: ATH is ignored unless AT+CVHU=0
            self._hangup(resp)
            return None
        return "ERROR"

    def _extended(self, name: str, arg: str, resp: _Response) -> str | None:
        info = lambda text: resp.before.append(self._text_line(text))   # noqa: E731
        p = self.profile
        setting = arg[1:] if arg.startswith("=") and arg != "=?" else None
        if name in ("+CGMI", "+GMI") and arg == "":
            info(p.manufacturer)
        elif name in ("+CGMM", "+GMM") and arg == "":
            info(p.model)
        elif name in ("+CGMR", "+GMR") and arg == "":
            info(p.revision)
        elif name in ("+CGSN", "+GSN") and arg == "":
            info(p.imei)
        elif name == "+CMEE":
            return self._flag(arg, setting, "cmee", "+CMEE", (0, 1, 2), info)
        elif name == "+CLIP":
            if arg == "?":
                info(f"+CLIP: {int(self.clip)},1")
                return None
            return self._flag(arg, setting, "clip", "+CLIP", (0, 1), info)
        elif name == "+CRC":
            return self._flag(arg, setting, "crc", "+CRC", (0, 1), info)
        elif name == "+CVHU":
            if self.profile.cvhu is None:
                return "ERROR"
            return self._flag(arg, setting, "cvhu", "+CVHU", (0, 1), info)
        elif name == "+CLCC":
            if arg == "":
                call = self._call
                if call is not None and call.state != "ended":
                    info(self._clcc_text(call))
                return None
            if not self.profile.clcc_urc:
                return "ERROR"
            return self._flag(arg, setting, "clcc_reports", "+CLCC", (0, 1), info)
        elif name == "+CPIN":
            return self._cpin(arg, setting, info)
        elif name == "+CIMI" and arg == "":
            if self.sim != "READY":
                return self._cme(10 if self.sim == "missing" else 11)
            info("001010123456789")
        elif name == "+CSQ" and arg == "":
            info(f"+CSQ: {self.rssi},99")
        elif name == "+CREG":
            if arg == "?":
                stat = self.registration if self.sim == "READY" else 0
                info(f"+CREG: {self.creg_n},{stat}")
                return None
            return self._flag(arg, setting, "creg_n", "+CREG", (0, 1, 2), info)
        elif name == "+CPAS" and arg == "":
            call = self._call
            info("+CPAS: 0" if call is None else "+CPAS: 3" if call.state == "incoming"
                 else "+CPAS: 4")
        elif name == "+CHUP" and arg == "":
            self._hangup(resp)
        elif name == "+VTS" and setting:
            if self._call is None or self._call.state != "active":
                return self._cme(3)
        elif name == "+CFUN":
            if arg == "?":
                info("+CFUN: 1")
        else:
            return "ERROR"
        return None

    def _flag(self, arg: str, setting: str | None, attr: str, name: str,
              allowed: tuple[int, ...], info: Callable[[str], None]) -> str | None:
        """A numeric setting: `=n` sets it, `?` reads it, `=?` lists the range."""
        if arg == "?":
            info(f"{name}: {int(getattr(self, attr))}")
        elif arg == "=?":
            info(f"{name}: ({allowed[0]}-{allowed[-1]})")
        elif setting is not None and setting.isdigit() and int(setting) in allowed:
            value = int(setting)
            setattr(self, attr, bool(value) if isinstance(getattr(self, attr), bool) else value)
        else:
            return "ERROR"
        return None

    def _cpin(self, arg: str, setting: str | None, info: Callable[[str], None]) -> str | None:
        if arg == "?":
            if self.sim == "missing":
                return self._cme(10)
            info("+CPIN: READY" if self.sim == "READY" else "+CPIN: SIM PIN")
            return None
        if setting:
            if self.sim != "pin":
                return self._cme(3 if self.sim == "READY" else 10)
            self.sim = "READY"
            return None
        return "ERROR"

    # ---- calls ---------------------------------------------------------------------------

    def _answer(self, resp: _Response) -> str:
        call = self._call
        if call is None or call.state != "incoming":
            return "NO CARRIER"
        self._connect(call, resp.before, resp.after)
        return "OK"

    def _connect(self, call: _Call, before: list[bytes], after: list[bytes]) -> None:
        call.state = "active"
        call.answered_at = time.monotonic()
        if self.profile.voice_call_urcs:
            before.append(self._text_line("VOICE CALL: BEGIN"))
        if self.clcc_reports:
            after.append(self._text_line(self._clcc_text(call)))

    def _hangup(self, resp: _Response) -> None:
        call = self._call
        if call is None or call.state == "ended":
            return
        was_active = call.state == "active"
        call.state = "ended"
        if self.profile.voice_call_urcs and was_active and call.answered_at is not None:
            elapsed = (time.monotonic() - call.answered_at) / self.time_scale
            resp.before.append(self._text_line(f"VOICE CALL: END: {hhmmss(elapsed)}"))
        if self.clcc_reports:
            resp.after.append(self._text_line(self._clcc_text(call)))

    def _dial(self, dial_string: str, resp: _Response) -> str | None:
        if not dial_string.endswith(";"):
            return "NO CARRIER"                  # a data call: no data service here
        number = dial_string.rstrip(";").lstrip("TtPp")
        if self._call is not None:
            return self._cme(3)
        if self.sim != "READY":
            return self._cme(10 if self.sim == "missing" else 11)
        spec = self._dial_specs.popleft() if self._dial_specs else OutgoingCall(number)
        call = _Call("outbound", number, "dialing")
        self._call = call
        if self.clcc_reports:
            resp.after.append(self._text_line(self._clcc_text(call)))
        self._start_script(self._outgoing(call, spec), first=True)
        return "OK"

    def _clip_text(self, call: _Call) -> str:
        style = self.profile.clip_style
        if call.withheld:
            number, kind, validity = "", 128, 1
        elif call.unavailable:
            number, kind, validity = "", 128, 3 if style == "siemens" else 2
        else:
            number, validity = call.number, 0
            kind = 145 if number.startswith("+") else 129
        if style == "siemens":
            if validity == 0 and not call.name:
                return f'+CLIP: "{number}",{kind}'
            return f'+CLIP: "{number}",{kind},,,"{call.name}",{validity}'
        subaddr_type = "0" if style == "quectel" else ""
        return f'+CLIP: "{number}",{kind},"",{subaddr_type},"{call.name}",{validity}'

    def _clcc_text(self, call: _Call) -> str:
        direction = 1 if call.direction == "inbound" else 0
        number = "" if call.withheld or call.unavailable else call.number
        kind = 145 if number.startswith("+") else 129 if number else 128
        return f'+CLCC: {call.index},{direction},{_CLCC_STAT[call.state]},0,0,"{number}",{kind}'

    def _report_clcc(self, call: _Call) -> None:
        if self.clcc_reports:
            self._urc(self._clcc_text(call))

    def _incoming(self, spec: IncomingCall) -> Script:
        while self._call is not None:            # one line: wait for the current call to end
            yield self._sleep(None, until=lambda: self._call is None)
        call = _Call("inbound", spec.number, "incoming", spec.name, spec.withheld,
                     spec.unavailable)
        self._call = call
        still_ringing = lambda: call.state != "incoming"   # noqa: E731
        self._report_clcc(call)
        for ring in range(1, spec.rings + 1):
            if self.crc:
                self._urc("+CRING: VOICE")
            else:
                self._result_urc("RING")
            if self.clip:
                self._urc(self._clip_text(call))
            yield self._sleep(self.ring_period, until=still_ringing)
            if call.state != "incoming":
                break
            if spec.answer_after_rings == ring:    # picked up elsewhere (handset, other port)
                before: list[bytes] = []
                after: list[bytes] = []
                self._connect(call, before, after)
                for chunk in before + after:
                    self._send(chunk)
                break
        if call.state == "incoming":
            self._abandon(call, spec.abandon_style)
        elif call.state == "active":
            yield from self._talk(call, spec.talk_s, spec.end)
        self._call = None

    def _abandon(self, call: _Call, style: str) -> None:
        call.state = "ended"
        if style == "no_carrier":
            self._result_urc("NO CARRIER")
            self._report_clcc(call)
        elif style == "missed_call":
            shown = "" if call.withheld or call.unavailable else call.number
            self._urc(f"MISSED_CALL: {time.strftime('%H:%M')} {shown}".rstrip())
            self._report_clcc(call)
        elif style == "clcc":
            self._urc(self._clcc_text(call))     # the only sign of it, reporting on or not
        # "rings_stop": nothing at all

    def _outgoing(self, call: _Call, spec: OutgoingCall) -> Script:
        ended = lambda: call.state == "ended"     # noqa: E731
        yield self._sleep(min(0.5, spec.alert_s), until=ended)
        if call.state != "ended":
            call.state = "alerting"
            self._report_clcc(call)
            yield self._sleep(spec.alert_s, until=ended)
        if call.state != "ended":
            if spec.outcome == "answered":
                before: list[bytes] = []
                after: list[bytes] = []
                self._connect(call, before, after)
                for chunk in before + after:
                    self._send(chunk)
                yield from self._talk(call, spec.talk_s, spec.end)
            else:
                call.state = "ended"
                self._result_urc(_DIAL_RESULT[spec.outcome])
                self._report_clcc(call)
        self._call = None

    def _talk(self, call: _Call, talk_s: float, end: str) -> Script:
        not_active = lambda: call.state != "active"   # noqa: E731
        if end == "local":
            yield self._sleep(None, until=not_active)
            return
        yield self._sleep(talk_s, until=not_active)
        if call.state == "active":
            call.state = "ended"
            if self.profile.voice_call_urcs:
                self._urc(f"VOICE CALL: END: {hhmmss(talk_s)}")
            self._result_urc("NO CARRIER")
            self._report_clcc(call)


class VoiceModemEmulator(_AtEmulator):
    """A landline voice modem with formatted caller ID (V.253 +VCID or Rockwell #CID)."""

    def __init__(self, port: EmulatedPort, *, cid_command: str = "+VCID",
                 manufacturer: str = "CONEXANT", model: str = "CX93001-EIS",
                 revision: str = "CX93001-EIS_V0.2002-V92", silent: bool = False,
                 echo_initially: bool = True, ring_period: float = 6.0, time_scale: float = 1.0,
                 byte_delay: float = 0.0, refuse: tuple[str, ...] = ()):
        if cid_command not in ("+VCID", "#CID"):
            raise ValueError('cid_command must be "+VCID" or "#CID"')
        self.cid_command = cid_command
        self.manufacturer, self.model, self.revision = manufacturer, model, revision
        super().__init__(port, thread_name=f"voice-modem-emulator-{os.path.basename(port.path)}",
                         silent=silent, echo_initially=echo_initially, ring_period=ring_period,
                         time_scale=time_scale, byte_delay=byte_delay, refuse=refuse)

    def incoming_call(self, number: str = "", *, name: str = "", rings: int = 3,
                      answer_after_rings: int | None = None, withheld: bool = False,
                      unavailable: bool = False, date: str = "", time: str = "",
                      ddn: bool = False, caller_id: bool = True) -> None:
        """Queue a ringing line: RING, the caller ID block after the first ring, more RINGs.

        A landline modem shows nothing when the caller gives up or someone picks up an
        extension: the rings just stop (`answer_after_rings` stops them early). `date` (MMDD)
        and `time` (HHMM) default to now; `ddn` prints DDN_NMBR= instead of NMBR =.
        """
        spec = IncomingCall(number, name, rings, answer_after_rings, withheld=withheld,
                            unavailable=unavailable, date=date, time=time, ddn=ddn,
                            caller_id=caller_id)
        self._submit(lambda: self._start_script(self._incoming(spec)))

    def _reset_modem(self) -> None:
        super()._reset_modem()
        self.cid_mode = 0

    def _basic(self, letter: str, digits: str, resp: _Response) -> str | None:
        common = self._common_basic(letter, digits)
        if common != "":
            return common
        if letter == "I":
            resp.before.append(self._text_line(self.revision))
            return None
        if letter == "A":
            call = self._call
            if call is not None:
                call.state = "ended"             # a data answer to a voice caller fails
            return "NO CARRIER"
        if letter == "H":
            if self._call is not None:
                self._call.state = "ended"
            return None
        return "ERROR"

    def _extended(self, name: str, arg: str, resp: _Response) -> str | None:
        info = lambda text: resp.before.append(self._text_line(text))   # noqa: E731
        if name == self.cid_command:
            if arg == "?":
                info(f"{name}: {self.cid_mode}" if name == "+VCID" else str(self.cid_mode))
            elif arg == "=?":
                info(f"{name}: (0-2)" if name == "+VCID" else "0,1,2")
            elif arg in ("=0", "=1", "=2"):
                self.cid_mode = int(arg[1])
            else:
                return "ERROR"
        elif name in ("+GMI", "+FMI") and arg == "":
            info(self.manufacturer)
        elif name in ("+GMM", "+FMM") and arg == "":
            info(self.model)
        elif name in ("+GMR", "+FMR") and arg == "":
            info(self.revision)
        elif name in ("+FCLASS", "+GCI", "+VLS", "+VSM", "+VRID"):
            if arg == "?":
                info("0")
        else:
            return "ERROR"
        return None

    def _dial(self, dial_string: str, resp: _Response) -> str | None:
        if self._call is not None:
            return "ERROR"
        spec = self._dial_specs.popleft() if self._dial_specs else OutgoingCall(
            outcome="no_carrier")
        number = dial_string.rstrip(";").lstrip("TtPp")
        call = _Call("outbound", number, "dialing")
        self._call = call
        self._start_script(self._dial_result(call, spec), first=True)
        return None                              # the result code comes when the far end does

    def _dial_result(self, call: _Call, spec: OutgoingCall) -> Script:
        yield self._sleep(spec.alert_s, until=lambda: call.state == "ended")
        outcome = "no_carrier" if spec.outcome == "answered" else spec.outcome
        if call.state != "ended":
            call.state = "ended"
            self._result_urc(_DIAL_RESULT[outcome])
        self._call = None

    def _cid_lines(self, spec: IncomingCall) -> list[str]:
        number = "P" if spec.withheld else "O" if spec.unavailable else spec.number
        lines = [f"DATE = {spec.date or time.strftime('%m%d')}",
                 f"TIME = {spec.time or time.strftime('%H%M')}",
                 f"DDN_NMBR= {number}" if spec.ddn else f"NMBR = {number}"]
        if spec.name:
            lines.append(f"NAME = {spec.name}")
        return lines

    def _incoming(self, spec: IncomingCall) -> Script:
        while self._call is not None:
            yield self._sleep(None, until=lambda: self._call is None)
        call = _Call("inbound", spec.number, "incoming", spec.name, spec.withheld,
                     spec.unavailable)
        self._call = call
        stopped = lambda: call.state != "incoming"    # noqa: E731
        for ring in range(1, spec.rings + 1):
            self._result_urc("RING")
            if ring == 1 and self.cid_mode == 1 and spec.caller_id:
                # The FSK burst comes in the silence between the first and second ring.
                yield self._sleep(self.ring_period / 4, until=stopped)
                if call.state != "incoming":
                    break
                self._send(b"\r\n" + "".join(f"{line}\r\n" for line in self._cid_lines(spec))
                           .encode("utf-8"))
                yield self._sleep(self.ring_period * 3 / 4, until=stopped)
            else:
                yield self._sleep(self.ring_period, until=stopped)
            if call.state != "incoming" or spec.answer_after_rings == ring:
                break
        call.state = "ended"
        self._call = None
