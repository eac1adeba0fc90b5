"""device:<name> for telephony lines: a GSM/LTE module or a voice modem, identified over AT."""
from __future__ import annotations

from firmware_bridge.at.settings import LineSettings as LineConfig
from firmware_bridge.at.driver import LineDriver
from firmware_bridge.exceptions import DeviceError, DeviceGone, DeviceTimeout

from .checks_devices import DeviceCheckContext, missing_port, open_failure, other_openers
from .ports import BUSY_HINT_TAIL
from .result import CheckResult, Finding, Status, combine

WEAK_SIGNAL_DBM = -100


def _silent_hint(port: str) -> str:
    return (f"no reply to AT on {port}: check the module's power and the USB cable; is "
            f"ModemManager holding the port? " + BUSY_HINT_TAIL)


def check_line(line: LineConfig, *, at_timeout_s: float = 2.0) -> CheckResult:
    name = f"device:{line.name}"
    missing = missing_port(name, line.port)
    if missing is not None:
        return missing
    driver = LineDriver(line.name, line.port, line.kind, line.baudrate, command_timeout=at_timeout_s)
    try:
        driver.open()
    except DeviceError as exc:
        return open_failure(name, line.port, exc)
    try:
        identity = driver.identify(at_timeout_s)
    except DeviceTimeout:
        findings = [Finding(Status.FAIL, f"no reply to AT on {line.port} within {at_timeout_s:g} s",
                            _silent_hint(line.port))]
        return combine(name, findings + _others(line.port))
    except DeviceGone as exc:
        return combine(name, [Finding(Status.FAIL, f"{line.port} went away while being identified ({exc})",
                                      "check the USB cable and the power supply (a module that "
                                      "resets under load needs a stronger supply)")])
    finally:
        driver.close()
    if line.kind == "voice-modem":
        findings = [_voice_identity(identity)]
    else:
        findings = _gsm_findings(identity, line)
    return combine(name, findings + _others(line.port))


def _others(port: str) -> list[Finding]:
    other = other_openers(port)
    return [other] if other is not None else []


def _voice_identity(identity: dict) -> Finding:
    who = " ".join(v for v in (identity.get("manufacturer"), identity.get("model")) if v)
    return Finding(Status.PASS, f"voice modem {who or identity.get('info') or 'answers AT'}")


def _gsm_findings(identity: dict, line: LineConfig) -> list[Finding]:
    model = identity.get("model") or "unknown model"
    maker = identity.get("manufacturer") or "unknown maker"
    findings = [Finding(Status.PASS, f"{model} ({maker}), IMEI {identity.get('imei') or 'unknown'}")]
    sim = identity.get("sim", "unknown")
    findings.append(_sim(sim, line))
    if sim != "READY":
        return findings                   # without a SIM, signal and network say nothing useful
    findings.append(_signal(identity.get("signal") or {}))
    findings.append(_registration(identity.get("registration", "unknown")))
    return findings


def _sim(sim: str, line: LineConfig) -> Finding:
    if sim == "READY":
        return Finding(Status.PASS, "SIM ready")
    if sim == "not inserted":
        return Finding(Status.FAIL, "SIM missing", "insert the SIM / check the SIM tray "
                                                   "(power the module off first)")
    if sim == "SIM PIN":
        where = "sim_pin is set but was not accepted" if line.sim_pin else "the SIM asks for a PIN"
        return Finding(Status.FAIL, f"SIM locked: {where}",
                       "disable the PIN on the SIM in a phone, or set the right sim_pin for this "
                       "[[line]]; three wrong PINs block the SIM")
    if sim == "SIM PUK":
        return Finding(Status.FAIL, "SIM blocked (PUK required)",
                       "unblock it in a phone with the PUK from the operator, then refit it")
    return Finding(Status.FAIL, f"SIM state {sim}",
                   "reseat the SIM (module powered off); if it persists, try another SIM")


def _signal(signal: dict) -> Finding:
    dbm, rssi = signal.get("dbm"), signal.get("rssi")
    if dbm is None:
        return Finding(Status.WARN, f"signal unknown (rssi {rssi if rssi is not None else '?'})",
                       "the module cannot measure the signal: check the antenna is screwed on "
                       "and run the self-test again in a minute")
    if dbm < WEAK_SIGNAL_DBM:
        return Finding(Status.WARN, f"weak signal {dbm} dBm",
                       "calls may drop: fit the antenna firmly, move it away from metal and "
                       "higher up or near a window, or use an external antenna on a cable")
    return Finding(Status.PASS, f"signal {dbm} dBm")


def _registration(state: str) -> Finding:
    if state.startswith("registered"):
        return Finding(Status.PASS, state)
    if state == "denied":
        return Finding(Status.FAIL, "network registration denied",
                       "the operator refused the SIM: check the SIM is activated and has a voice "
                       "plan (ask the operator)")
    if state == "searching":
        return Finding(Status.WARN, "searching for a network",
                       "no network yet: wait a minute after power-on; if it stays, check the "
                       "antenna and the operator's coverage here")
    return Finding(Status.FAIL if state == "not registered" else Status.WARN,
                   f"network: {state}",
                   "the module is not on a network: check the antenna, the SIM's activation and "
                   "the operator's coverage")


def line_device_check(line: LineConfig, ctx: DeviceCheckContext) -> CheckResult:
    return check_line(line, at_timeout_s=ctx.at_timeout_s)
