"""DeviceRunner on a real event loop: a real pty (unplug, replug) and a real TCP listener (taken port,
peeked bytes held until durable, pause and resume, descriptors reported for the fd store)."""
from __future__ import annotations

import asyncio
import os
import socket
from datetime import datetime

import pytest

from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.devices import DeviceRunner
from firmware_bridge.events import AvayaSmdrRecord, PanasonicSmdrRecord
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.smdr.avaya import encode_record
from firmware_bridge.smdr.driver import PanasonicSerialDriver
from firmware_bridge.smdr.emulator import PanasonicEmulator
from firmware_bridge.smdr.panasonic import PanasonicOptions
from firmware_bridge.smdr.receiver import AvayaReceiver
from firmware_bridge.smdr.traffic import generate_avaya_calls, generate_panasonic_calls, in_output_order
from tests.helpers.waiting import free_port

OPTIONS = PanasonicOptions(date_order="DMY", clock="24h")
FAST = BackoffPolicy(base_s=0.02, cap_s=0.08, jitter=0.0)


async def until(condition, timeout: float = 5.0, what: str = "condition") -> None:
    """Bounded wait on the loop: poll `condition` while the loop runs the device's readers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class Sink:
    """Collects what the runner delivers; releases marks right away unless told to hold them."""

    def __init__(self):
        self.events: list = []
        self.marks: list = []
        self.runner: DeviceRunner | None = None
        self.hold = False

    def __call__(self, name, events, mark):
        self.events += events
        if mark is not None:
            if self.hold:
                self.marks.append(mark)
            else:
                self.runner.release(mark)


def test_a_serial_device_goes_down_on_unplug_retries_with_back_off_and_comes_back(tmp_path):
    records = [r for call in generate_panasonic_calls(6, start=datetime(2026, 3, 1, 8), seed=3, options=OPTIONS)
               for r in call]
    ups, downs = [], []

    async def scenario():
        with EmulatedPort(str(tmp_path / "ttyPBX")) as port:
            emulator = PanasonicEmulator(port, OPTIONS)
            sink = Sink()
            driver = PanasonicSerialDriver("kx1", port.path, options=OPTIONS)
            runner = DeviceRunner("panasonic", driver, sink, Backoff(FAST), on_up=ups.append, on_down=downs.append)
            sink.runner = runner
            runner.start(asyncio.get_running_loop())
            try:
                assert runner.state.up and ups == ["kx1"]
                emulator.write_records(records[:3])
                await until(lambda: len(sink.events) == 3, what="the first records")
                port.unplug()
                await until(lambda: not runner.state.up, what="DOWN after the unplug")
                assert downs == ["kx1"]
                # While unplugged it keeps trying, no faster than the back-off allows.
                tried = runner.state.open_attempts
                started = asyncio.get_running_loop().time()
                await until(lambda: runner.state.open_attempts >= tried + 3, what="retries while unplugged")
                # three retries after 0.02 + 0.04 + 0.08 s of back-off, not in a tight loop
                assert asyncio.get_running_loop().time() - started >= 0.12
                assert "cannot open" in runner.state.last_error or "no such" in runner.state.last_error.lower()
                port.replug()
                await until(lambda: runner.state.up, what="UP after the replug")
                assert ups == ["kx1", "kx1"] and downs == ["kx1"]
                emulator.write_records(records[3:])
                await until(lambda: len(sink.events) == len(records), what="records after the replug")
            finally:
                runner.close()
        return sink.events, runner

    events, runner = asyncio.run(scenario())
    assert [e.raw for e in events if isinstance(e, PanasonicSmdrRecord)][-3:] == [r.raw for r in events[-3:]]
    assert len(events) == len(records) and not runner.state.up


def test_a_taken_listen_port_is_retried_and_peeked_bytes_wait_in_the_kernel_until_released():
    port = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    records = in_output_order(generate_avaya_calls(4, start=datetime(2026, 3, 1, 9), seed=5))
    wire = b"".join(encode_record(r) for r in records)

    async def scenario():
        sink = Sink()
        sink.hold = True
        runner = DeviceRunner("avaya-ipo", AvayaReceiver("ipo", f"127.0.0.1:{port}"), sink, Backoff(FAST))
        sink.runner = runner
        runner.start(asyncio.get_running_loop())
        pbx = None
        try:
            assert not runner.state.up and "cannot listen" in runner.state.last_error
            holder.close()
            await until(lambda: runner.state.up, what="bound once the port is free")
            pbx = socket.create_connection(("127.0.0.1", port))
            pbx.sendall(wire)
            await until(lambda: len(sink.events) == len(records), what="every record peeked")
            status = runner.driver.status()
            assert status["bytes_not_durable"] == len(wire)       # nothing taken out of the kernel yet
            for mark in sink.marks:
                runner.release(mark)
            assert runner.driver.status()["bytes_not_durable"] == 0
            # Paused: nothing is read, the kernel (and then TCP flow control) holds it.
            runner.pause()
            pbx.sendall(encode_record(records[0]))
            await asyncio.sleep(0.1)                                  # give a reader the chance it must not take
            assert len(sink.events) == len(records)
            runner.resume()
            await until(lambda: len(sink.events) == len(records) + 1, what="the record sent while paused")
        finally:
            if pbx is not None:
                pbx.close()
            runner.close()
        return sink.events

    events = asyncio.run(scenario())
    assert all(isinstance(e, AvayaSmdrRecord) for e in events)
    assert [e.raw for e in events[:len(records)]] == [encode_record(r)[:-2] for r in records]


@pytest.mark.parametrize("failures, expected", [(1, 0.02), (2, 0.04), (3, 0.08), (9, 0.08)])
def test_back_off_doubles_up_to_its_cap(failures, expected):
    assert FAST.delay(failures) == pytest.approx(expected)


def test_every_descriptor_opened_or_closed_is_reported_for_the_fd_store_but_not_at_shutdown():
    port = free_port()
    records = in_output_order(generate_avaya_calls(3, start=datetime(2026, 3, 1, 9), seed=6))
    changes: list = []

    async def scenario():
        sink = Sink()
        sink.hold = True
        runner = DeviceRunner("avaya-ipo", AvayaReceiver("ipo", f"127.0.0.1:{port}"), sink, Backoff(FAST))
        sink.runner = runner
        runner.keep_descriptors({}, lambda name, added, removed: changes.append((name, sorted(added), removed)))
        runner.start(asyncio.get_running_loop())
        try:
            assert changes == [("ipo", ["listen"], [])]
            pbx = socket.create_connection(("127.0.0.1", port))
            pbx.sendall(b"".join(encode_record(r) for r in records))
            await until(lambda: len(sink.events) == len(records), what="the records")
            assert changes[-1] == ("ipo", ["conn0"], [])            # kept as soon as it was accepted
            pbx.close()
            await until(lambda: runner.driver.status()["peers"] == [], what="the PBX's close seen")
            assert changes[-1] == ("ipo", ["conn0"], [])            # bytes not durable yet: still kept
            for mark in sink.marks:
                runner.release(mark)
            assert changes[-1] == ("ipo", [], ["conn0"])            # all durable, closed: removed
            kept = len(changes)
        finally:
            runner.close()
        assert len(changes) == kept                                 # shutdown keeps the listener stored

    asyncio.run(scenario())


def test_descriptors_kept_from_before_a_restart_are_taken_over_and_not_stored_again():
    port = free_port()
    changes: list = []

    async def scenario():
        first = AvayaReceiver("ipo", f"127.0.0.1:{port}")
        first.open()
        kept = {name: os.dup(fd) for name, fd in first.descriptors().items()}
        first.close()
        runner = DeviceRunner("avaya-ipo", AvayaReceiver("ipo", f"127.0.0.1:{port}"), Sink(), Backoff(FAST))
        runner.keep_descriptors(kept, lambda *change: changes.append(change))
        runner.start(asyncio.get_running_loop())
        try:
            assert runner.state.up and runner.driver.descriptors() == kept
        finally:
            runner.close()

    asyncio.run(scenario())
    assert changes == []
