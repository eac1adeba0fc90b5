"""AvayaEmulator against real sockets on 127.0.0.1, and the AvayaReceiver receiving from it."""
from __future__ import annotations

import dataclasses
import socket
import select
import time
from datetime import datetime

import pytest

from firmware_bridge.events import ProtocolError
from firmware_bridge.smdr.avaya import AvayaCodec, encode_record
from firmware_bridge.smdr.traffic import generate_avaya_calls
from firmware_bridge.smdr.receiver import AvayaReceiver
from firmware_bridge.smdr.emulator import AvayaEmulator
from tests.helpers.waiting import wait_for

WAIT = 10.0


@pytest.fixture
def records():
    calls = generate_avaya_calls(40, start=datetime(2024, 3, 1, 8), seed=3)
    return [rec for call in calls for rec in call]


@pytest.fixture
def server():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.settimeout(WAIT)
    yield sock
    sock.close()


def relisten(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4)
    sock.settimeout(WAIT)
    return sock


def receive(conn: socket.socket, count: int, codec: AvayaCodec | None = None) -> list:
    """Read from the connection until `count` events are decoded (bounded by the socket timeout)."""
    codec = codec or AvayaCodec()
    conn.settimeout(WAIT)
    events: list = []
    while len(events) < count:
        data = conn.recv(65536)
        assert data, f"connection closed after {len(events)} of {count} events"
        events += codec.feed(data)
    return events


def bodies(recs) -> list[bytes]:
    return [encode_record(r)[:-2] for r in recs]


def test_records_arrive_whole_with_leading_nuls(server, records):
    with AvayaEmulator("127.0.0.1", server.getsockname()[1], leading_nuls=4) as emu:
        conn, _ = server.accept()
        with conn:
            emu.send(records)
            events = receive(conn, len(records))
            assert emu.wait_sent(WAIT)
    assert events == [dataclasses.replace(r, raw=b) for r, b in zip(records, bodies(records))]
    assert emu.sent == bodies(records)


def test_split_writes_and_slow_bytes_still_decode(server, records):
    emu = AvayaEmulator("127.0.0.1", server.getsockname()[1], max_chunk=5, chunk_delay=0.0005, seed=9)
    with emu:
        conn, _ = server.accept()
        with conn:
            emu.send(records[:6])
            events = receive(conn, 6)
    assert [e.raw for e in events] == bodies(records[:6])


def test_faults_garbage_and_truncated_records_are_reported_and_the_stream_recovers(server, records):
    with AvayaEmulator("127.0.0.1", server.getsockname()[1]) as emu:
        conn, _ = server.accept()
        with conn:
            emu.send_raw(b"\x15\xfe#@!noise\r\n")
            emu.send_truncated(records[0], keep=40)
            emu.send(records[1:3])
            events = receive(conn, 4)
            assert emu.wait_sent(WAIT)
    assert events[0] == ProtocolError(events[0].reason, b"\x15\xfe#@!noise")
    assert isinstance(events[1], ProtocolError) and events[1].raw == bodies(records[:1])[0][:40]
    assert [e.raw for e in events[2:]] == bodies(records[1:3])
    assert emu.sent == bodies(records[1:3])                  # faults are not listed as records


def test_reconnects_after_the_server_closes_the_connection(server, records):
    with AvayaEmulator("127.0.0.1", server.getsockname()[1], reconnect_delay=0.01) as emu:
        conn, _ = server.accept()
        emu.send(records[:2])
        assert len(receive(conn, 2)) == 2
        conn.close()
        assert emu.wait_connections(2, WAIT)                  # noticed and came back
        conn2, _ = server.accept()
        with conn2:
            emu.send(records[2:4])
            assert [e.raw for e in receive(conn2, 2)] == bodies(records[2:4])


def test_resend_on_reconnect_repeats_the_last_records_written(server, records):
    with AvayaEmulator("127.0.0.1", server.getsockname()[1], resend_on_reconnect=2,
                       reconnect_delay=0.01) as emu:
        conn, _ = server.accept()
        emu.send(records[:3])
        assert len(receive(conn, 3)) == 3
        conn.close()
        assert emu.wait_connections(2, WAIT)
        conn2, _ = server.accept()
        with conn2:
            emu.send(records[3:4])
            got = receive(conn2, 3)
            assert emu.wait_sent(WAIT)
            sent = list(emu.sent)          # before conn2 closes and the emulator resends again
    assert [e.raw for e in got] == bodies(records[1:4])        # 2 and 3 again, then 4
    assert sent == bodies(records[:3] + records[1:4])


def test_records_queued_while_the_appliance_is_down_are_sent_after_reconnect(server, records):
    port = server.getsockname()[1]
    with AvayaEmulator("127.0.0.1", port, reconnect_delay=0.01, reconnect_delay_max=0.05,
                       buffer_limit=5) as emu:
        conn, _ = server.accept()
        emu.send(records[:1])
        receive(conn, 1)
        conn.close()
        server.close()                                       # appliance down: connects refused
        refused = emu.failed_connects
        wait_for(lambda: emu.failed_connects > refused, WAIT, message="a refused reconnect")
        emu.send(records[1:8])                               # 7 records, buffer holds 5
        assert emu.pending == 5 and emu.dropped == 2         # oldest dropped, like IP Office
        assert not emu.wait_sent(0.05)
        again = relisten(port)
        with again:
            conn2, _ = again.accept()
            with conn2:
                got = receive(conn2, 5)
                assert emu.wait_sent(WAIT)
    assert [e.raw for e in got] == bodies(records[3:8])


def test_drop_connection_fault_reconnects(server, records):
    with AvayaEmulator("127.0.0.1", server.getsockname()[1], reconnect_delay=0.01) as emu:
        conn, _ = server.accept()
        with conn:
            emu.send(records[:1])
            receive(conn, 1)
            emu.drop_connection()
            conn.settimeout(WAIT)
            assert conn.recv(100) == b""                     # the PBX hung up
        assert emu.wait_connections(2, WAIT)
        conn2, _ = server.accept()
        with conn2:
            emu.send(records[1:2])
            assert [e.raw for e in receive(conn2, 1)] == bodies(records[1:2])


def test_stop_keeps_unsent_records_and_leaves_nothing_running(records):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                                            # nobody listens here
    emu = AvayaEmulator("127.0.0.1", port, reconnect_delay=0.01).start()
    emu.send(records[:3])
    emu.close()
    assert emu.pending == 3 and emu.sent == []


def test_tcp_listener_yields_events_per_peer(records):
    with AvayaReceiver("ipo", "127.0.0.1:0", consume=True) as listener:
        with AvayaEmulator("127.0.0.1", listener.port, leading_nuls=2) as emu:
            emu.send(records[:5])
            emu.send_truncated(records[5], keep=30, terminate=False)
            got: list = []
            deadline = time.monotonic() + WAIT
            while len(got) < 5:
                assert time.monotonic() < deadline
                select.select(listener.filenos(), [], [], 1.0)
                got += listener.read_events()
                assert all(peer.startswith("127.0.0.1:") for peer in listener.status()["peers"])
            assert emu.wait_sent(WAIT)
            assert listener.status()["connections"] == 1 and len(listener.filenos()) == 2
        # The emulator closed its connection: the cut-off record comes out as an error.
        tail: list = []
        deadline = time.monotonic() + WAIT
        while not tail:
            assert time.monotonic() < deadline
            select.select(listener.filenos(), [], [], 1.0)
            tail = listener.read_events()
        assert [e.raw for e in got] == bodies(records[:5])
        assert tail == [ProtocolError("incomplete line at end of stream (no terminator)",
                                      bodies(records[5:6])[0][:30])]
        assert listener.status()["records"] == 5 and listener.status()["errors"] == 1
