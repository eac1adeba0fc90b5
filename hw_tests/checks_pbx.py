"""device:<name> for PBX SMDR feeds: a Panasonic serial port, or the Avaya IP Office TCP listener."""
from __future__ import annotations

import socket
import time
from typing import Callable

import psutil

from firmware_bridge.smdr.settings import PbxSettings as PbxConfig
from appliance.common.hostport import split_hostport
from firmware_bridge.exceptions import DeviceError

from .checks_devices import DeviceCheckContext, missing_port, open_failure, other_openers, record_age
from .ports import is_daemon_cmdline, try_open
from .result import CheckResult, Finding, Status, combine

_ANY = ("0.0.0.0", "::", "")


def _panasonic_setup(pbx: PbxConfig) -> str:
    return (f"make sure the PBX prints SMDR to this port (SMDR output on in the PBX programming) "
            f"with the settings in the config ({pbx.baudrate} baud, {pbx.bytesize}"
            f"{pbx.parity}{pbx.stopbits}) and that the serial cable is a null-modem cable")


def _avaya_setup(port: int) -> str:
    return (f"in IP Office Manager, System > CDR/SMDR: output SMDR only, IP address of this box, "
            f"TCP port {port}; and allow TCP port {port} in to this box")


def check_panasonic(pbx: PbxConfig, data_dir: str, *, now: Callable[[], float] = time.time) -> CheckResult:
    name = f"device:{pbx.name}"
    missing = missing_port(name, pbx.port)
    if missing is not None:
        return missing
    age = record_age(data_dir, pbx.name, _panasonic_setup(pbx), now=now)
    try:
        try_open(pbx.port, baudrate=pbx.baudrate, bytesize=pbx.bytesize, parity=pbx.parity,
                 stopbits=pbx.stopbits)
    except DeviceError as exc:
        return open_failure(name, pbx.port, exc, extra=[age])
    findings = [Finding(Status.PASS, f"{pbx.port} present and opens"), age]
    other = other_openers(pbx.port)
    return combine(name, findings + ([other] if other else []))


def _listeners(port: int) -> list[tuple[str, int | None]]:
    """(address, pid or None) of TCP sockets listening on `port`; pid is None when not ours to see."""
    return [(c.laddr.ip, c.pid) for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]


def _accepts(host: str, port: int, timeout_s: float) -> bool:
    target = "127.0.0.1" if host in _ANY else host
    try:
        with socket.create_connection((target, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _listener(host: str, port: int, timeout_s: float) -> Finding:
    where = f"{host}:{port}"
    try:
        found = [(ip, pid) for ip, pid in _listeners(port) if host in _ANY or ip in _ANY or ip == host]
    except psutil.AccessDenied:
        found = [("", None)] if _accepts(host, port, timeout_s) else []
    if not found:
        return Finding(Status.FAIL, f"nothing listens on {where}: the PBX cannot deliver SMDR",
                       "start the daemon (systemctl start appliance); if it runs, look for "
                       "'cannot listen' in `journalctl -u appliance`")
    pids = [pid for _, pid in found if pid is not None]
    if not pids:
        return Finding(Status.PASS, f"listening on {where}")
    try:
        args = psutil.Process(pids[0]).cmdline()
    except psutil.Error:
        return Finding(Status.PASS, f"listening on {where} (pid {pids[0]})")
    if is_daemon_cmdline(args):
        return Finding(Status.PASS, f"listening on {where} (the daemon, pid {pids[0]})")
    return Finding(Status.FAIL, f"port {port} is taken by another program: {' '.join(args)} (pid {pids[0]})",
                   "stop that program, or choose another port in [[pbx]] listen and in IP Office")


def check_avaya(pbx: PbxConfig, data_dir: str, *, now: Callable[[], float] = time.time,
                timeout_s: float = 2.0) -> CheckResult:
    host, port = split_hostport(pbx.listen, port_zero=True)
    return combine(f"device:{pbx.name}", [_listener(host, port, timeout_s),
                                          record_age(data_dir, pbx.name, _avaya_setup(port), now=now)])


def panasonic_device_check(pbx: PbxConfig, ctx: DeviceCheckContext) -> CheckResult:
    return check_panasonic(pbx, ctx.data_dir, now=ctx.now)


def avaya_device_check(pbx: PbxConfig, ctx: DeviceCheckContext) -> CheckResult:
    return check_avaya(pbx, ctx.data_dir, now=ctx.now, timeout_s=ctx.network_timeout_s)
