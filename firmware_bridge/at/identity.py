"""Who is on an AT port: maker, model, IMEI, SIM state, signal and registration, for self-tests."""
from __future__ import annotations

import re

from ..events import CommandResult
from .protocol import split_fields

_CME_SIM_STATE = {"10": "not inserted", "11": "SIM PIN", "12": "SIM PUK", "13": "SIM failure",
                  "SIM NOT INSERTED": "not inserted", "SIM PIN REQUIRED": "SIM PIN",
                  "SIM PUK REQUIRED": "SIM PUK", "SIM FAILURE": "SIM failure"}
_CREG_STATE = {"0": "not registered", "1": "registered home", "2": "searching", "3": "denied",
               "4": "unknown", "5": "registered roaming"}


def identify_line(driver, timeout: float) -> dict:
    """Ask an open LineDriver who it is (blocking; raises DeviceTimeout if it does not answer)."""
    if driver.kind == "voice-modem":
        info = driver.command("ATI", timeout)
        return {"kind": driver.kind, "info": " ".join(info.lines) if info.ok else "",
                "manufacturer": _first_line(driver.command("AT+GMI", timeout)),
                "model": _first_line(driver.command("AT+GMM", timeout))}
    identity = {"kind": driver.kind,
                "manufacturer": _first_line(driver.command("AT+CGMI", timeout)),
                "model": _first_line(driver.command("AT+CGMM", timeout)),
                "revision": _first_line(driver.command("AT+CGMR", timeout)),
                "imei": _imei(driver.command("AT+CGSN", timeout))}
    identity["sim"] = _sim_state(driver.command("AT+CPIN?", timeout))
    identity["signal"] = _signal(driver.command("AT+CSQ", timeout))
    identity["registration"] = _registration(driver.command("AT+CREG?", timeout))
    return identity


def _strip_prefix(line: str) -> str:
    return re.sub(r"^\+[A-Z]+:\s*", "", line, flags=re.IGNORECASE)


def _first_line(result: CommandResult) -> str:
    return _strip_prefix(result.lines[0]) if result.ok and result.lines else ""


def _imei(result: CommandResult) -> str:
    for line in result.lines if result.ok else ():
        value = _strip_prefix(line).strip('"')
        if value.isdigit():
            return value
    return ""


def _sim_state(result: CommandResult) -> str:
    """AT+CPIN? -> READY, SIM PIN, SIM PUK, not inserted, SIM failure, or "error: <result>"."""
    if result.ok:
        return _strip_prefix(result.lines[0]) if result.lines else "unknown"
    detail = result.error.split(":", 1)[1].strip().upper() if ":" in result.error else ""
    return _CME_SIM_STATE.get(detail, f"error: {result.error}")


def _signal(result: CommandResult) -> dict:
    """+CSQ: <rssi>,<ber>; rssi 0..31 maps to -113..-51 dBm in 2 dB steps, 99 = unknown."""
    fields = split_fields(_strip_prefix(result.lines[0])) if result.ok and result.lines else None
    if not fields or len(fields) < 2 or not fields[0].isdigit() or not fields[1].isdigit():
        return {"rssi": None, "ber": None, "dbm": None}
    rssi, ber = int(fields[0]), int(fields[1])
    dbm = -113 + 2 * rssi if rssi <= 31 else None
    return {"rssi": rssi, "ber": ber, "dbm": dbm}


def _registration(result: CommandResult) -> str:
    """+CREG: <n>,<stat>[,<lac>,<ci>] -> registered home / registered roaming / searching ..."""
    fields = split_fields(_strip_prefix(result.lines[0])) if result.ok and result.lines else None
    if not fields:
        return "unknown"
    stat = fields[1] if len(fields) >= 2 else fields[0]
    return _CREG_STATE.get(stat, "unknown")
