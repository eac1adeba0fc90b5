"""The AT emulators' model of a module: profiles, call specifications, scripted-call steps, codes."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

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
    leaves_at_answer: bool = False   # the caller hangs up just as the host answers: ATA gets NO CARRIER


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
    leaves_at_answer: bool = False


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
