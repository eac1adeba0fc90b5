"""loopback: with a TX-RX loopback plug fitted, what we send must come straight back."""
from __future__ import annotations

import os
import select
import time

from firmware_bridge.exceptions import DeviceError
from firmware_bridge.serialport import open_serial, read_available, write_all

from .checks_devices import missing_port, open_failure
from .ports import release
from .result import CheckResult, failed, passed

_PLUG_HINT = ("fit the loopback plug (pins 2-3 on DB9) on this port; if it is fitted, the port or "
              "its USB adapter is faulty: try another adapter")


def check_loopback(port: str, *, n_bytes: int = 64, timeout_s: float = 2.0,
                   baudrate: int = 9600) -> CheckResult:
    name = "loopback"
    missing = missing_port(name, port)
    if missing is not None:
        return missing
    try:
        serial_port = open_serial(port, baudrate=baudrate)
    except DeviceError as exc:
        return open_failure(name, port, exc)
    sent = os.urandom(n_bytes)
    received = bytearray()
    try:
        write_all(serial_port, sent)
        deadline = time.monotonic() + timeout_s
        while len(received) < n_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([serial_port.fileno()], [], [], remaining)
            if ready:
                received += read_available(serial_port)
    except DeviceError as exc:
        return failed(name, f"{port} failed during the loopback test ({exc})",
                      "check the USB cable and `dmesg` for USB errors")
    finally:
        release(serial_port)
    if not received:
        return failed(name, f"no data came back on {port} within {timeout_s:g} s", _PLUG_HINT)
    if bytes(received[:n_bytes]) != sent:
        got = len(received)
        match = sum(a == b for a, b in zip(received, sent))
        return failed(name, f"{port}: {got} of {n_bytes} bytes came back, {match} matching", _PLUG_HINT)
    return passed(name, f"{port}: {n_bytes} random bytes came back intact at {baudrate} baud")
