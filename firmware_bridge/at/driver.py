"""One telephony line (27.007 GSM/LTE module or V.253 voice modem) on one serial port."""
from __future__ import annotations

import logging
import re
import select
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ..base import Driver, serial_candidates
from ..events import CallEnded, CallerId, CommandResult, Event, ProtocolError, Ring
from ..exceptions import DeviceGone, DeviceTimeout, NotOpen
from ..serialport import close_serial, kept_port, open_serial, read_available, write_all
from .identity import identify_line
from .protocol import KINDS, AtCodec, encode_command

log = logging.getLogger("firmware_bridge.at")

DEFAULT_TIMEOUT = 2.0
CALL_COMMAND_TIMEOUT = 30.0          # ATA / ATD: a voice modem waits for the far end

_DIAL_STRING = re.compile(r"^[0-9*#+ABCDabcdpPwWtT,]+$")


@dataclass
class _Step:
    """A queued command. `optional`: an error is remembered, not a failure of the init sequence."""
    command: str
    timeout: float
    init: bool = False
    optional: bool = False
    fallback: str | None = None              # sent instead when the device refuses `command`
    blocking: bool = False                   # a command() caller waits for it
    result: CommandResult | None = None
    deadline: float = 0.0


PIN_QUERY = "AT+CPIN?"         # before anything that needs the SIM: a locked SIM refuses +CLIP
CLCC_REPORTS = "AT+CLCC=1"     # automatic +CLCC on every call state change (SIM7600 and others)
CLCC_POLL_S = 1.0               # without those reports, ask AT+CLCC this often during a call

# (command, optional, fallback on error)
INIT_SEQUENCES: dict[str, tuple[tuple[str, bool, str | None], ...]] = {
    "gsm": (("ATE0", False, None), ("AT+CMEE=1", True, None), (PIN_QUERY, True, None),
            ("AT+CLIP=1", False, None),
            ("AT+CRC=1", True, None), ("AT+CVHU=0", True, None), ("AT+CLCC=1", True, None)),
    "voice-modem": (("ATE0", False, None), ("AT+VCID=1", False, "AT#CID=1")),
}


class LineDriver(Driver):
    """Owns one AT port: queues commands one at a time, turns what comes back into events.

    Non-blocking for an event loop: `fileno()` for add_reader, `read_events()` when readable,
    `poll(now)` about once a second for command deadlines. `open()` queues the init sequence;
    `ready` turns true when it finished with every required command answered OK.
    After DeviceGone the owner removes its reader, calls `close()`, and later `open()` again.
    `command()` and `identify()` block (select on the port) and are for self-tests and the CLI.
    """

    def __init__(self, name: str, url: str, kind: str = "gsm", baudrate: int = 115200, *,
                 command_timeout: float = DEFAULT_TIMEOUT, exclusive: bool = True, sim_pin: str = "",
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time):
        if kind not in KINDS:
            raise ValueError(f"{name}: kind must be one of {KINDS}, not {kind!r}")
        super().__init__(name, url)
        self.url, self.kind, self.baudrate = url, kind, baudrate
        self._sim_pin = sim_pin
        self.pin_rejected = False                    # the SIM refused sim_pin once: never sent again
        self.sim_problem = ""                        # why the SIM is not usable, for status and self-tests
        self.command_timeout = command_timeout
        self._exclusive = exclusive
        self._clock, self._wallclock = clock, wallclock
        self._port = None
        self._codec = AtCodec(kind)
        self._queue: deque[_Step] = deque()
        self._inflight: _Step | None = None
        self._backlog: list[Event] = []
        self._gone = False
        self._gone_error: DeviceGone | None = None
        self._init_done = False
        self._init_failed: dict[str, str] = {}
        self.unsupported: set[str] = set()          # optional commands the device refused
        self._events = 0
        self._protocol_errors = 0
        self._timeouts = 0
        self._last_event_at: float | None = None
        self._clcc_polling = False                   # asking AT+CLCC while a call may be up
        self._last_clcc_poll = 0.0

    @classmethod
    def from_settings(cls, settings) -> "LineDriver":
        return cls(settings.name, settings.port, kind=settings.kind, baudrate=settings.baudrate,
                   sim_pin=settings.sim_pin)

    @classmethod
    def detect(cls) -> list[str]:
        return serial_candidates("/dev/ttyUSB*", "/dev/ttyACM*")

    # ---- lifecycle -----------------------------------------------------------------------

    def _open_port(self) -> None:
        """Open the port and queue the init sequence. Opening again re-initialises the device."""
        self._port = open_serial(self.url, baudrate=self.baudrate, exclusive=self._exclusive,
                                 fd=self._adopt.pop("port", None))    # kept across a restart
        self._codec = AtCodec(self.kind)
        self._gone, self._gone_error = False, None
        self._init_done, self._init_failed = False, {}
        self._clcc_polling = False
        for command, optional, fallback in INIT_SEQUENCES[self.kind]:
            self._queue.append(_Step(command, self.command_timeout, init=True, optional=optional,
                                     fallback=fallback))
        self._queue.append(_Step("", 0.0, init=True))    # marker: init sequence finished
        log.info("%s: opened %s (%s), initialising", self.name, self.url, self.kind)
        self._pump_queue()

    def _close_port(self) -> None:
        port, self._port = self._port, None
        self._queue.clear()
        self._inflight = None
        self._init_done = False
        if port is not None:
            close_serial(port)
            log.info("%s: closed", self.name)

    def _filenos(self) -> list[int]:
        return [self._port.fileno()] if self._port is not None else []

    def _descriptors(self) -> dict[str, int]:
        return kept_port(self._port)

    @property
    def is_open(self) -> bool:
        return self._port is not None and not self._gone

    @property
    def ready(self) -> bool:
        """The init sequence finished and every required command was answered OK."""
        return self.is_open and self._init_done and not self._init_failed

    # ---- commands ------------------------------------------------------------------------

    def queue_command(self, command: str, timeout: float | None = None) -> None:
        """Send `command` after those already queued; its CommandResult comes from read_events()."""
        encode_command(command)                      # validate now, not when it is sent
        timeout = timeout or _default_timeout(command, self.command_timeout)
        self._queue.append(_Step(command, timeout))
        self._pump_queue()

    def answer(self) -> None:
        self.queue_command("ATA")

    def hangup(self) -> None:
        """AT+CHUP (ATH is ignored by SIM7600 unless +CVHU=0); ATH where +CHUP is refused."""
        if self.kind == "voice-modem" or "AT+CHUP" in self.unsupported:
            self.queue_command("ATH")
            return
        self._queue.append(_Step("AT+CHUP", self.command_timeout, fallback="ATH"))
        self._pump_queue()

    def dial(self, number: str) -> None:
        """Voice call: `ATD<number>;` (the `;` makes it voice, not data)."""
        if not _DIAL_STRING.match(number):
            raise ValueError(f"{self.name}: not a dial string")
        self.queue_command(f"ATD{number};")

    # ---- event-loop side -----------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        write_all(self._port, data)

    def _read(self) -> list[Event]:
        """Non-blocking: what the device said since last time. Raises DeviceGone once."""
        events, self._backlog = self._backlog, []
        if self._port is None or self._gone:
            if self._gone_error is not None:
                return self._raise_gone(events)
            return events
        try:
            data = read_available(self._port)
        except DeviceGone as exc:
            self._gone_error = exc
            return self._raise_gone(events)
        if data:
            events.extend(self._process(self._codec.feed(data)))
        if self._gone_error is not None:             # a write failed while processing
            return self._raise_gone(events)
        return events

    def poll(self, now: float | None = None) -> list[Event]:
        """Expire the command in flight if its deadline passed; returns its timeout result."""
        return super().poll(self._clock() if now is None else now)

    def _poll(self, now: float) -> list[Event]:
        events: list[Event] = []
        step = self._inflight
        if step is not None and not self._gone and now >= step.deadline:
            self._timeouts += 1
            self._codec.cancel_pending()
            log.warning("%s: %s timed out after %.1f s", self.name, _loggable(step.command),
                        step.timeout)
            result = CommandResult(_loggable(step.command) if step.init else step.command, ok=False, error="timeout")
            events.extend(self._complete(step, result))
        if (self._clcc_polling and not self._gone and self._port is not None and self._inflight is None
                and not self._queue and now - self._last_clcc_poll >= CLCC_POLL_S):
            self._last_clcc_poll = now
            self.queue_command("AT+CLCC")
        return events

    @property
    def polling_calls(self) -> bool:
        """True while the driver asks AT+CLCC once a second (a module without +CLCC reports, in a call)."""
        return self._clcc_polling

    def status(self) -> dict:
        return {
            "name": self.name, "url": self.url, "kind": self.kind, "open": self.is_open,
            "ready": self.ready, "events": self._events,
            "errors": self._protocol_errors + self._timeouts,
            "protocol_errors": self._protocol_errors, "timeouts": self._timeouts,
            "last_event_at": self._last_event_at,
            "pending": self._inflight.command if self._inflight else None,
            "queued": len(self._queue),
            "init_failed": dict(self._init_failed), "unsupported": sorted(self.unsupported),
            "polling_calls": self._clcc_polling, "sim_problem": self.sim_problem,
        }

    # ---- blocking helpers (self-tests, CLI) ----------------------------------------------

    def command(self, cmd: str, timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
        """Send `cmd` and wait for its result; other events are kept for read_events().

        Raises DeviceTimeout when nothing comes back within `timeout` (counted from now, so it
        includes waiting behind commands already queued).
        """
        encode_command(cmd)
        if self._port is None:
            raise NotOpen(f"{self.name}: not open")
        step = _Step(cmd, timeout, blocking=True)
        self._queue.append(step)
        self._pump_queue()
        deadline = time.monotonic() + timeout
        while step.result is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abandon(step)
                raise DeviceTimeout(
                    f"{self.name}: no answer to {_loggable(cmd)} within {timeout} s")
            readable, _, _ = select.select([self.fileno()], [], [], min(remaining, 0.05))
            # read_events() hands over (and replaces) the backlog: take its result first.
            events = self.read_events() if readable else []
            events.extend(self.poll())
            self._backlog.extend(events)
        return step.result

    def identify(self, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Who is on the port (maker, model, IMEI, SIM, signal, registration). Raises DeviceTimeout."""
        return identify_line(self, timeout)

    # ---- internals -----------------------------------------------------------------------

    def _raise_gone(self, events: list[Event]) -> list[Event]:
        """Raise DeviceGone the first time; events parsed before it wait in the backlog."""
        error, self._gone_error = self._gone_error, None
        self._gone = True
        self._backlog = events + self._backlog
        log.warning("%s: device gone (%s)", self.name, error)
        raise error

    def _process(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if isinstance(event, ProtocolError):
                self._protocol_errors += 1      # counted here; logged once per burst by the daemon
            if isinstance(event, CommandResult) and self._inflight is not None:
                out.extend(self._complete(self._inflight, event))
                continue
            out.append(event)
        self._count(out)
        self._track_call(out)
        return out

    def _track_call(self, events: list[Event]) -> None:
        """Modules that refuse AT+CLCC=1 report call progress only when asked: while a call may be
        up (a ring, a caller ID, an accepted dial), poll() asks AT+CLCC once a second, until the
        list comes back empty or the call ends."""
        if self.kind != "gsm" or CLCC_REPORTS not in self.unsupported:
            return
        for event in events:
            if isinstance(event, (Ring, CallerId)):
                self._clcc_polling = True
            elif isinstance(event, CommandResult):
                command = event.command.upper()
                if command.startswith("ATD") and event.ok:
                    self._clcc_polling = True
                elif command == "AT+CLCC" and event.ok and not event.lines:
                    self._clcc_polling = False          # no call any more
            elif isinstance(event, CallEnded):
                self._clcc_polling = False

    def _count(self, events: list[Event]) -> None:
        if events:
            self._events += len(events)
            self._last_event_at = self._wallclock()

    def _sim_pin_step(self, step: _Step, result: CommandResult) -> CommandResult:
        """AT+CPIN? answered SIM PIN: enter sim_pin once; a refused PIN is never sent again (three
        wrong PINs lock the SIM until its PUK is entered). The PIN never reaches a log or an event."""
        if step.command.upper().startswith("AT+CPIN="):
            result = CommandResult("AT+CPIN=<pin>", result.ok, result.lines, result.error)
            if not result.ok:
                self.pin_rejected = True
                self.sim_problem = "the SIM refused sim_pin"
                log.error("%s: the SIM refused the PIN in sim_pin (%s); it will not be sent again: "
                          "correct sim_pin and restart the appliance", self.name, result.error)
            return result
        if step.command == PIN_QUERY and result.ok and any("SIM PIN" in line.upper() for line in result.lines):
            if self._sim_pin and not self.pin_rejected:
                log.info("%s: the SIM asks for its PIN: entering sim_pin", self.name)
                self._queue.appendleft(_Step(f"AT+CPIN={self._sim_pin}", self.command_timeout, init=True))
            else:
                self.sim_problem = ("the SIM refused sim_pin earlier" if self.pin_rejected
                                    else "the SIM asks for a PIN: set sim_pin")
                log.error("%s: %s", self.name, self.sim_problem)
        elif step.command == PIN_QUERY and result.ok:
            self.sim_problem = ""
        return result

    def _complete(self, step: _Step, result: CommandResult) -> list[Event]:
        """The result of the command in flight: fallbacks, init bookkeeping, next command."""
        self._inflight = None
        if step.init and step.command.upper().startswith("AT+CPIN"):
            result = self._sim_pin_step(step, result)
        refused = not result.ok and result.error != "timeout"
        if refused and (step.optional or step.fallback):
            self.unsupported.add(step.command)
        out: list[Event] = []
        if refused and step.fallback:
            log.info("%s: %s refused (%s); trying %s", self.name, _loggable(step.command), result.error,
                     step.fallback)
            self._queue.appendleft(_Step(step.fallback, step.timeout, init=step.init,
                                         optional=step.optional))
        else:
            if not result.ok and step.optional:
                log.info("%s: optional %s not available (%s)", self.name, _loggable(step.command),
                         result.error)
            elif not result.ok and step.init:
                self._init_failed[_loggable(step.command)] = result.error
                log.warning("%s: init command %s failed (%s)", self.name, _loggable(step.command),
                            result.error)
            if step.blocking:
                step.result = result                 # handed to the command() caller only
            else:
                out.append(result)
        self._pump_queue()
        return out

    def _pump_queue(self) -> None:
        """Send the next queued command unless one is in flight."""
        while self._inflight is None and self._queue and self._port is not None and not self._gone:
            step = self._queue.popleft()
            if not step.command:                     # end-of-init marker
                self._init_done = True
                if self._init_failed:
                    log.warning("%s: init finished with failures: %s", self.name,
                                ", ".join(self._init_failed))
                else:
                    log.info("%s: ready", self.name)
                continue
            try:
                write_all(self._port, encode_command(step.command))
            except DeviceGone as exc:
                self._gone_error = exc
                self._queue.appendleft(step)
                return
            step.deadline = self._clock() + step.timeout
            self._inflight = step
            self._codec.command_sent(step.command)
            log.debug("%s: -> %s", self.name, _loggable(step.command))

    def _abandon(self, step: _Step) -> None:
        """A blocking caller gave up on `step`: drop it from the queue or from flight."""
        if step in self._queue:
            self._queue.remove(step)
        elif self._inflight is step:
            self._inflight = None
            self._codec.cancel_pending()
            self._timeouts += 1
            self._pump_queue()


def _default_timeout(command: str, base: float) -> float:
    upper = command.upper()
    return max(base, CALL_COMMAND_TIMEOUT) if upper.startswith(("ATA", "ATD")) else base


def _loggable(command: str) -> str:
    """Commands as logged: a dialled number or a SIM PIN is never written to the log."""
    upper = command.upper()
    if upper.startswith("ATD"):
        return "ATD<number>"
    return "AT+CPIN=<pin>" if upper.startswith("AT+CPIN=") else command
