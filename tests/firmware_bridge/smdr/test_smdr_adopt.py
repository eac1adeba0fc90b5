"""Taking over descriptors kept across a restart: the Avaya receiver (listener and connections, bytes peeked but
not released) and the Panasonic serial driver (a tty that buffered while nobody read it). The "store" here is a
dup() of each descriptor, which is what systemd's file-descriptor store holds."""
from __future__ import annotations

import os
import select
import socket
import time
from datetime import datetime

import pytest

from firmware_bridge.events import AvayaSmdrRecord, PanasonicSmdrRecord
from firmware_bridge.exceptions import DeviceBusy
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.smdr.avaya import encode_record
from firmware_bridge.smdr.driver import PanasonicSerialDriver
from firmware_bridge.smdr.emulator import PanasonicEmulator
from firmware_bridge.smdr.panasonic import PanasonicOptions
from firmware_bridge.smdr.receiver import AvayaReceiver
from firmware_bridge.smdr.traffic import generate_avaya_calls, generate_panasonic_calls, in_output_order
from tests.helpers.waiting import free_port

OPTIONS = PanasonicOptions(date_order="DMY", clock="24h")


def read_until(driver, count: int, timeout: float = 5.0) -> list:
    """Events as the driver's descriptors become readable, until `count` records arrived (bounded)."""
    events: list = []
    deadline = time.monotonic() + timeout
    while len(events) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out with {len(events)} of {count}"
        select.select(driver.filenos(), [], [], min(remaining, 0.05))
        events += driver.read_events()
    return events


def kept(driver) -> dict[str, int]:
    """What a supervisor holds for the driver: a duplicate of each descriptor it names."""
    return {name: os.dup(fd) for name, fd in driver.descriptors().items()}


def avaya_lines(count: int, seed: int) -> list[bytes]:
    records = in_output_order(generate_avaya_calls(count, start=datetime(2026, 6, 1, 8), seed=seed))
    return [encode_record(r) for r in records]


def receiver(port: int, store: dict[str, int] | None = None) -> AvayaReceiver:
    """An open receiver; with `store`, the next process's, taking over what the last one kept."""
    made = AvayaReceiver("ipo", f"127.0.0.1:{port}")
    if store is not None:
        made.adopt(store)
    made.open()
    return made


def test_records_peeked_but_not_released_are_read_again_by_the_next_receiver():
    port = free_port()
    lines = avaya_lines(30, seed=1)
    first = receiver(port)
    pbx = socket.create_connection(("127.0.0.1", port))
    try:
        pbx.sendall(b"".join(lines[:20]))
        assert len(read_until(first, 20)) == 20
        first.release(first.mark())                       # the 20 are durable ...
        store = kept(first)
        assert sorted(store) == ["conn0", "listen"]
        first.close()                                     # ... then the process dies
        pbx.sendall(b"".join(lines[20:]))                  # the PBX goes on writing into the kept socket
        late = socket.create_connection(("127.0.0.1", port))   # and a second PBX connects meanwhile
        try:
            late.sendall(lines[0])
            second = receiver(port, store)
            try:
                events = read_until(second, len(lines) - 20 + 1)
                assert sorted(second.descriptors()) == ["conn0", "conn1", "listen"]   # names kept, new one next
                assert second.descriptors()["conn0"] == store["conn0"]
            finally:
                second.close()
        finally:
            late.close()
    finally:
        pbx.close()
        first.close()
    raws = sorted(e.raw for e in events if isinstance(e, AvayaSmdrRecord))
    assert raws == sorted(line[:-2] for line in lines[20:] + lines[:1])


def test_bytes_held_back_are_parsed_again_after_the_takeover():
    """The records of everything not released are still in the kernel: the next receiver parses them."""
    port = free_port()
    lines = avaya_lines(40, seed=2)
    first = receiver(port)
    pbx = socket.create_connection(("127.0.0.1", port))
    try:
        pbx.sendall(b"".join(lines))
        read_until(first, len(lines))
        first.release({0: len(b"".join(lines[:15]))})     # 15 durable; the rest parsed, held back in the kernel
        assert first.status()["bytes_not_durable"] == len(b"".join(lines[15:]))
        store = kept(first)
        first.close()
        second = receiver(port, store)
        try:
            events = read_until(second, len(lines) - 15)
            second.release(second.mark())
            assert second.status()["bytes_not_durable"] == 0
        finally:
            second.close()
    finally:
        pbx.close()
    assert [e.raw for e in events] == [line[:-2] for line in lines[15:]]


def test_a_kept_listener_on_another_address_is_closed_and_a_new_one_bound():
    old, new = free_port(), free_port()
    first = receiver(old)
    store = kept(first)
    first.close()
    second = receiver(new, store)                          # the config changed the port
    try:
        assert second.port == new
        with socket.create_connection(("127.0.0.1", new), timeout=5):
            pass
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", old), timeout=5).close()   # the old one is really closed
    finally:
        second.close()


@pytest.fixture
def pty_port(tmp_path):
    with EmulatedPort(str(tmp_path / "ttyPBX")) as port:
        yield port


def panasonic_records(count: int) -> list:
    return [r for call in generate_panasonic_calls(count, start=datetime(2026, 6, 1, 8), seed=4, options=OPTIONS)
            for r in call]


def test_a_kept_serial_port_hands_over_what_arrived_while_nobody_read(pty_port):
    records = panasonic_records(12)
    pbx = PanasonicEmulator(pty_port, OPTIONS)
    first = PanasonicSerialDriver("kx", pty_port.path, options=OPTIONS)
    first.open()
    try:
        pbx.write_records(records[:5])
        assert len(read_until(first, 5)) == 5
        store = kept(first)
        assert list(store) == ["port"]
        first.close()
        pbx.write_records(records[5:])                    # printed while the daemon is down
        with pytest.raises(DeviceBusy):
            PanasonicSerialDriver("kx", pty_port.path, options=OPTIONS).open()   # the kept copy holds the lock
        second = PanasonicSerialDriver("kx", pty_port.path, options=OPTIONS)
        second.adopt(store)
        second.open()
        try:
            events = read_until(second, len(records) - 5)
            assert second.descriptors() == {"port": store["port"]}
            assert second.status()["line"] == "9600 8N1"
        finally:
            second.close()
    finally:
        first.close()
    assert [e.raw for e in events if isinstance(e, PanasonicSmdrRecord)] == pbx.written[5:]


def test_reopening_the_path_instead_loses_what_arrived_meanwhile(pty_port):
    """Why the port is adopted: opening it again discards the tty's input buffer (pyserial does)."""
    records = panasonic_records(4)
    pbx = PanasonicEmulator(pty_port, OPTIONS)
    first = PanasonicSerialDriver("kx", pty_port.path, options=OPTIONS)
    first.open()
    first.close()
    pbx.write_records(records[:2])                        # arrives while the port is closed
    second = PanasonicSerialDriver("kx", pty_port.path, options=OPTIONS)
    second.open()
    try:
        pbx.write_records(records[2:])
        events = read_until(second, len(records) - 2)
    finally:
        second.close()
    assert [e.raw for e in events] == pbx.written[2:]
