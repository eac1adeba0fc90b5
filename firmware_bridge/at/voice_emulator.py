"""An emulated V.253 landline voice modem with caller ID on a pty (see emulator.py for the shared rules)."""
from __future__ import annotations

import os
import time

from ..pty import EmulatedPort
from .emulator_base import _AtEmulator
from .emulator_model import _DIAL_RESULT, IncomingCall, OutgoingCall, Script, _Call, _Response

__all__ = ["VoiceModemEmulator"]


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
