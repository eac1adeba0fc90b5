"""An emulated 27.007 GSM/LTE module on a pty (the V.253 voice modem is in voice_emulator.py).

Each emulator runs one named background thread on the pty master of an EmulatedPort. It answers
AT commands like the real module (echo until ATE0, OK / ERROR / +CME ERROR, identity, +CSQ,
+CREG, +CPIN), and plays scripted calls: RING / +CRING and +CLIP each ring cycle, VOICE CALL:
BEGIN and +CLCC when answered, NO CARRIER / VOICE CALL: END when the call ends. Time is scaled
(`time_scale=0.001` plays a 60 s call in 60 ms) but durations reported on the wire are the
scripted ones. Faults: silence, garbage, slow bytes, unplug / replug, refused commands.
"""
from __future__ import annotations

import os
import time
from typing import Callable

from ..pty import EmulatedPort
from .emulator_base import _AtEmulator
from .emulator_model import (ABANDON_STYLES, ENDS, MODELS, OUTCOMES, SIM_STATES, _CLCC_STAT, _CME_TEXT,
                             _DIAL_RESULT, IncomingCall, ModuleProfile, OutgoingCall, Script, _Call,
                             _Response, hhmmss)

__all__ = ["GsmModemEmulator", "IncomingCall", "OutgoingCall", "ModuleProfile",
           "MODELS", "SIM_STATES", "ABANDON_STYLES", "OUTCOMES", "ENDS"]


class GsmModemEmulator(_AtEmulator):
    """A 27.007 module: SIM7600 by default; "EC25" and "MC35" differ where the host can see."""

    def __init__(self, port: EmulatedPort, *, model: str = "SIM7600", sim: str = "READY",
                 silent: bool = False, echo_initially: bool = True, rssi: int = 23,
                 registration: int = 1, ring_period: float = 5.0, time_scale: float = 1.0,
                 byte_delay: float = 0.0, refuse: tuple[str, ...] = (), pin: str = "1234"):
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}")
        if sim not in SIM_STATES:
            raise ValueError(f"sim must be one of {SIM_STATES}")
        self.profile = MODELS[model]
        self._sim_initial = sim
        self.pin = pin                       # the SIM's PIN; a wrong one is refused (+CME ERROR: 16)
        self.pin_attempts: list[str] = []
        self.rssi = rssi
        self.registration = registration     # +CREG stat: 1 home, 5 roaming, 2 searching, 3 denied
        self.offered_at: list[float] = []    # time.monotonic() when each incoming call began ringing
        super().__init__(port, thread_name=f"gsm-emulator-{os.path.basename(port.path)}",
                         silent=silent, echo_initially=echo_initially, ring_period=ring_period,
                         time_scale=time_scale, byte_delay=byte_delay, refuse=refuse)

    def incoming_call(self, number: str = "", *, name: str = "", rings: int = 3,
                      answer_after_rings: int | None = None, talk_s: float = 10.0,
                      end: str = "remote", abandon_style: str = "no_carrier",
                      withheld: bool = False, unavailable: bool = False,
                      leaves_at_answer: bool = False) -> None:
        """Queue an inbound call; it starts when the line is free.

        Nobody answers within `rings` rings -> the caller abandons, shown per `abandon_style`:
        "no_carrier" (NO CARRIER), "missed_call" (MISSED_CALL: HH:MM <number>), "clcc"
        (+CLCC stat 6 only), "rings_stop" (nothing: the rings just stop).
        """
        if abandon_style not in ABANDON_STYLES or end not in ENDS:
            raise ValueError(f"abandon_style in {ABANDON_STYLES}, end in {ENDS}")
        spec = IncomingCall(number, name, rings, answer_after_rings, talk_s, end, abandon_style,
                            withheld, unavailable, leaves_at_answer=leaves_at_answer)
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
            entered = setting.strip().strip('"').split(",")[0].strip('"')
            self.pin_attempts.append(entered)
            if entered != self.pin:
                return self._cme(16)
            self.sim = "READY"
            return None
        return "ERROR"

    # ---- calls ---------------------------------------------------------------------------

    def _answer(self, resp: _Response) -> str:
        call = self._call
        if call is not None and call.state == "incoming" and call.leaves_at_answer:
            call.state = "ended"                     # gone the moment the host picked up
            if self.clcc_reports:
                resp.after.append(self._text_line(self._clcc_text(call)))
            return "NO CARRIER"
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
        call.leaves_at_answer = spec.leaves_at_answer
        self._call = call
        self.offered_at.append(time.monotonic())
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
        elif call.state == "ended":
            pass                                     # the caller left as the host answered
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
