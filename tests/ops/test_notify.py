"""sd_notify and the liveness watchdog, through a real AF_UNIX datagram socket standing in for systemd."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ops.notify import DATAGRAM_MAX_BYTES, STATUS_MAX_CHARS, Notifier
from appliance.ops.watchdog import Watchdog


class FakeManager:
    """The service manager's end: a bound SOCK_DGRAM socket, read without blocking or with a deadline."""

    def __init__(self, address: str | bytes):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)

    def pending(self) -> list[str]:
        """Everything already delivered. A unix datagram send is complete when sendto() returns."""
        out = []
        self.sock.setblocking(False)
        while True:
            try:
                out.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                return out

    def next(self, timeout: float = 5.0) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(65536).decode()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sock_dir():
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="ntf", dir="/tmp") as path:
        yield path


@pytest.fixture
def manager(sock_dir):
    path = os.path.join(sock_dir, "notify.sock")
    mgr = FakeManager(path)
    mgr.path = path
    yield mgr
    mgr.close()


def fields(datagram: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.split("\n"))


# --- Notifier ---------------------------------------------------------------------------------

def test_without_notify_socket_every_call_is_a_quiet_no_op():
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert [notifier.ready(), notifier.status("x"), notifier.watchdog(), notifier.stopping(),
            notifier.reloading()] == [False] * 5
    assert notifier.watchdog_interval() is None


def test_ready_arrives_as_one_datagram_on_a_path_socket(manager):
    notifier = Notifier(environ={"NOTIFY_SOCKET": manager.path})
    assert notifier.ready(status="3 devices up")
    assert manager.pending() == ["READY=1\nSTATUS=3 devices up"]


def test_default_environment_is_the_process_environment(manager, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", manager.path)
    assert Notifier().watchdog()
    assert manager.pending() == ["WATCHDOG=1"]


def test_abstract_socket_address_with_leading_at():
    name = f"appliance-test-{uuid.uuid4().hex}"
    mgr = FakeManager(b"\0" + name.encode())
    try:
        assert Notifier(environ={"NOTIFY_SOCKET": "@" + name}).stopping()
        assert mgr.pending() == ["STOPPING=1"]
    finally:
        mgr.close()


def test_status_is_flattened_to_one_line_and_shortened(manager):
    notifier = Notifier(environ={"NOTIFY_SOCKET": manager.path})
    notifier.status("modem: DOWN\r\nwallboard:\tup   " + "x" * 500)
    (datagram,) = manager.pending()
    status = fields(datagram)["STATUS"]
    assert status.startswith("modem: DOWN wallboard: up xxx")
    assert len(status) == STATUS_MAX_CHARS and status.endswith("…")


@settings(max_examples=60, deadline=None)
@given(text=st.text())
def test_any_status_text_gives_one_valid_line(text):
    with tempfile.TemporaryDirectory(prefix="ntf", dir="/tmp") as d:
        mgr = FakeManager(os.path.join(d, "n.sock"))
        try:
            assert Notifier(environ={"NOTIFY_SOCKET": os.path.join(d, "n.sock")}).status(text)
            (datagram,) = mgr.pending()
        finally:
            mgr.close()
    assert datagram.startswith("STATUS=") and "\n" not in datagram
    assert len(datagram) <= len("STATUS=") + STATUS_MAX_CHARS
    assert len(datagram.encode()) <= DATAGRAM_MAX_BYTES


def test_reloading_carries_the_monotonic_time(manager):
    notifier = Notifier(environ={"NOTIFY_SOCKET": manager.path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    (datagram,) = manager.pending()
    got = fields(datagram)
    assert got["RELOADING"] == "1"
    assert before <= int(got["MONOTONIC_USEC"]) <= after


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),  # meant for another process
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "nope"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_the_environment(env, expected):
    assert Notifier(environ=env).watchdog_interval() == expected


@pytest.mark.parametrize("value", ["relative/notify.sock", "vsock:2:1234"])
def test_unsupported_socket_addresses_disable_notifications(value):
    notifier = Notifier(environ={"NOTIFY_SOCKET": value})
    assert not notifier.enabled and not notifier.ready()


def test_a_missing_manager_never_raises_and_is_logged_once_per_failure_run(sock_dir, caplog):
    path = os.path.join(sock_dir, "later.sock")
    notifier = Notifier(environ={"NOTIFY_SOCKET": path})
    caplog.set_level(logging.DEBUG, logger="appliance.notify")
    assert not notifier.ready()
    assert not notifier.status("still nobody")
    assert len(caplog.records) == 1 and "failed" in caplog.records[0].getMessage()

    mgr = FakeManager(path)
    try:
        assert notifier.watchdog()
        assert mgr.pending() == ["WATCHDOG=1"]
    finally:
        mgr.close()
    os.unlink(path)
    assert not notifier.watchdog()
    assert len(caplog.records) == 2  # a new run of failures is reported again


def test_oversized_notification_is_refused_not_truncated_by_the_manager(manager):
    notifier = Notifier(environ={"NOTIFY_SOCKET": manager.path})
    assert not notifier.send({"X_BLOB": "a" * 5000})
    assert not notifier.send({"bad key": "1"})
    assert manager.pending() == []


# --- Watchdog: pure logic on an injected clock -------------------------------------------------

class Progress:
    """A component's last-progress time, set by hand."""

    def __init__(self, at: float = 0.0):
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_check_names_the_components_older_than_their_limit():
    outbox, recorder = Progress(100.0), Progress(100.0)
    wd = Watchdog(Notifier(environ={}), {"outbox": outbox, "recorder": recorder},
                  max_stall_s={"outbox": 10, "recorder": 30}, clock=lambda: 0.0)
    assert wd.check(now=105.0) == []
    assert wd.check(now=111.0) == ["outbox"]
    assert wd.check(now=131.0) == ["outbox", "recorder"]
    recorder.at = 130.0
    assert wd.check(now=131.0) == ["outbox"]


def test_check_uses_the_injected_clock_by_default():
    now = [50.0]
    wd = Watchdog(Notifier(environ={}), {"outbox": Progress(45.0)}, max_stall_s=10, clock=lambda: now[0])
    assert wd.check() == []
    now[0] = 56.0
    assert wd.check() == ["outbox"]


def test_a_component_that_cannot_report_counts_as_stalled(caplog):
    def broken() -> float:
        raise RuntimeError("recorder thread gone")

    wd = Watchdog(Notifier(environ={}), {"recorder": broken}, max_stall_s=10, clock=lambda: 0.0)
    assert wd.check(now=1.0) == ["recorder"]
    with caplog.at_level(logging.WARNING, logger="appliance.watchdog"):
        wd.tick(now=1.0)
    assert "recorder thread gone" in caplog.text


@pytest.mark.parametrize(
    "limits",
    [{"outbox": 10}, {"outbox": 10, "recorder": 10, "typo": 10}, 0, -1.0, float("nan"), {"outbox": 10, "recorder": 0}],
)
def test_limits_must_cover_exactly_the_components_and_be_positive(limits):
    with pytest.raises(ValueError):
        Watchdog(Notifier(environ={}), {"outbox": Progress(), "recorder": Progress()}, max_stall_s=limits)


def test_no_components_is_a_configuration_error():
    with pytest.raises(ValueError):
        Watchdog(Notifier(environ={}), {}, max_stall_s=10)


def test_tick_pings_only_while_nothing_is_stalled_and_logs_each_stall_once(manager, caplog):
    notifier = Notifier(environ={"NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "30000000"})
    outbox = Progress(0.0)
    wd = Watchdog(notifier, {"outbox": outbox}, max_stall_s=20, clock=lambda: 0.0)
    assert wd.period_s == 15.0
    caplog.set_level(logging.INFO, logger="appliance.watchdog")

    assert wd.tick(now=15.0) == []
    assert manager.pending() == ["WATCHDOG=1"]

    for now in (30.0, 45.0, 60.0):  # outbox last moved at 0: stalled from 20 s on
        assert wd.tick(now=now) == ["outbox"]
    assert manager.pending() == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "outbox" in warnings[0].getMessage()

    outbox.at = 70.0
    assert wd.tick(now=75.0) == []
    assert manager.pending() == ["WATCHDOG=1"]
    assert any("outbox is making progress again" in r.getMessage() for r in caplog.records)
    assert wd.status(now=75.0)["pings"] == 2


def test_without_a_systemd_watchdog_nothing_is_pinged(manager):
    wd = Watchdog(Notifier(environ={"NOTIFY_SOCKET": manager.path}), {"outbox": Progress(0.0)},
                  max_stall_s=20, clock=lambda: 0.0, idle_period_s=7.0)
    assert wd.interval_s is None and wd.period_s == 7.0
    assert wd.tick(now=1.0) == []
    assert manager.pending() == []


# --- Watchdog: the asyncio task against a real NOTIFY_SOCKET ----------------------------------

def test_run_pings_while_alive_stops_when_a_component_wedges_and_resumes(manager, caplog):
    async def scenario() -> None:
        env = {"NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())}
        notifier = Notifier(environ=env)
        progress = {"outbox": time.monotonic(), "recorder": time.monotonic()}

        async def work(name: str) -> None:
            while True:
                progress[name] = time.monotonic()
                await asyncio.sleep(0.01)

        loop = asyncio.get_running_loop()
        manager.sock.setblocking(False)

        async def next_datagram(timeout: float) -> str:
            return (await asyncio.wait_for(loop.sock_recv(manager.sock, 65536), timeout)).decode()

        workers = {name: asyncio.create_task(work(name), name=f"work-{name}") for name in progress}
        wd = Watchdog(notifier, {name: (lambda n=name: progress[n]) for name in progress}, max_stall_s=0.5)
        assert wd.period_s == pytest.approx(0.05)
        notifier.ready()
        task = asyncio.create_task(wd.run(), name="watchdog")
        try:
            assert await next_datagram(5.0) == "READY=1"
            for _ in range(3):
                assert await next_datagram(5.0) == "WATCHDOG=1"

            workers["outbox"].cancel()  # wedge: the outbox stops making progress
            deadline = loop.time() + 5.0
            while wd.status()["stalled"] != ["outbox"]:
                assert loop.time() < deadline, "watchdog never noticed the wedged outbox"
                await asyncio.sleep(0.01)
            manager.pending()  # pings sent before the stall was seen
            with pytest.raises(TimeoutError):
                await next_datagram(8 * wd.period_s)  # several periods pass with no keep-alive

            workers["outbox"] = asyncio.create_task(work("outbox"), name="work-outbox")
            assert await next_datagram(5.0) == "WATCHDOG=1"
        finally:
            for t in [task, *workers.values()]:
                t.cancel()
            await asyncio.gather(task, *workers.values(), return_exceptions=True)

    caplog.set_level(logging.WARNING, logger="appliance.watchdog")
    asyncio.run(scenario())
    stalls = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(stalls) == 1 and stalls[0].startswith("watchdog: outbox has made no progress")
