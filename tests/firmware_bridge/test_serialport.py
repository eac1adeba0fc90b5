"""open_serial / read_available / close_serial on real ptys, including a spy:// wire trace and a kept descriptor."""
from __future__ import annotations

import os
import select
import termios

import pytest

from firmware_bridge.exceptions import DeviceBusy, DeviceGone, DeviceNotFound
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.serialport import close_serial, kept_port, open_serial, read_available, write_all


@pytest.fixture
def device(tmp_path):
    with EmulatedPort(str(tmp_path / "ttyX")) as port:
        yield port


def wait_readable(port) -> None:
    assert select.select([port.fileno()], [], [], 5)[0], "nothing arrived"


def test_bytes_both_ways_and_an_idle_port_is_not_gone(device):
    port = open_serial(device.path, baudrate=115200)
    try:
        assert read_available(port) == b""           # idle: nothing yet, and not "device gone"
        device.write(b"RING\r\n")
        wait_readable(port)
        assert read_available(port) == b"RING\r\n"
        write_all(port, b"ATA\r")
        select.select([device.fileno()], [], [], 5)
        assert device.read() == b"ATA\r"
    finally:
        close_serial(port)


def test_unplug_is_device_gone_and_a_second_opener_is_busy(device):
    port = open_serial(device.path)
    try:
        with pytest.raises(DeviceBusy):
            open_serial(device.path)
        device.unplug()
        wait_readable(port)
        with pytest.raises(DeviceGone):
            read_available(port)
    finally:
        close_serial(port)
    with pytest.raises(DeviceNotFound):
        open_serial(device.path)                      # the link is gone with the device


def test_spy_url_writes_a_wire_trace_of_both_directions(device, tmp_path):
    trace = tmp_path / "trace.txt"
    port = open_serial(f"spy://{device.path}?file={trace}")
    try:
        write_all(port, b"AT\r")
        device.write(b"\r\nOK\r\n")
        wait_readable(port)
        assert read_available(port) == b"\r\nOK\r\n"
        device.unplug()
        wait_readable(port)
        with pytest.raises(DeviceGone):
            read_available(port)
    finally:
        close_serial(port)
    text = trace.read_text()
    assert "TX" in text and "41 54 0D" in text        # "AT\r"
    assert "RX" in text and "4F 4B" in text           # "OK"


def test_a_kept_descriptor_is_taken_over_configured_with_its_input_kept(device):
    """What a restart under the fd store does: the same open tty, re-configured, nothing discarded."""
    port = open_serial(device.path, baudrate=115200)
    kept = os.dup(kept_port(port)["port"])
    close_serial(port)
    device.write(b"RING\r\n")                                    # arrives while nobody holds the port
    with pytest.raises(DeviceBusy):
        open_serial(device.path)                                  # the kept copy still holds the lock
    adopted = open_serial(device.path, baudrate=19200, fd=kept)
    try:
        assert kept_port(adopted) == {"port": kept}
        iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(kept)
        assert ispeed == ospeed == termios.B19200 and not lflag & termios.ICANON   # configured, raw
        wait_readable(adopted)
        assert read_available(adopted) == b"RING\r\n"
        write_all(adopted, b"ATA\r")
        select.select([device.fileno()], [], [], 5)
        assert device.read() == b"ATA\r"
    finally:
        close_serial(adopted)
    close_serial(open_serial(device.path))                        # closed for good: the path opens again


def test_a_url_port_is_not_kept(device, tmp_path):
    port = open_serial(f"spy://{device.path}?file={tmp_path / 'trace.txt'}")
    try:
        assert kept_port(port) == {}
    finally:
        close_serial(port)


def test_a_kept_7e1_port_on_a_pty_is_taken_over_with_its_input(device):
    """A pty may refuse 7E1 the second time (open_serial falls back to 8N1): the kept descriptor survives that."""
    port = open_serial(device.path, bytesize=7, parity="E")
    kept = os.dup(kept_port(port)["port"])
    close_serial(port)
    device.write(b"RING\r\n")
    adopted = open_serial(device.path, bytesize=7, parity="E", fd=kept)
    try:
        wait_readable(adopted)
        assert read_available(adopted) == b"RING\r\n"
    finally:
        close_serial(adopted)
