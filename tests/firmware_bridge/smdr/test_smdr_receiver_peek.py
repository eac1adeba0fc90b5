"""When the Avaya receiver's socket wakes it while bytes are held back (SO_RCVLOWAT): at once for the end of a
line, not per record while whole lines wait to be made durable (each peek copies all that is held)."""
from __future__ import annotations

import select
import socket
from datetime import datetime

from firmware_bridge.smdr.avaya import encode_record
from firmware_bridge.smdr.receiver import AvayaReceiver
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order

WAIT = 5.0


def lines(count: int) -> list[bytes]:
    records = in_output_order(generate_avaya_calls(count, start=datetime(2026, 6, 2, 8), seed=9))
    return [encode_record(r) for r in records]


def readable(receiver: AvayaReceiver, timeout: float) -> bool:
    return bool(select.select(receiver.filenos()[1:], [], [], timeout)[0])


def test_the_end_of_a_line_wakes_the_receiver_at_once():
    line = lines(1)[0]
    with AvayaReceiver("ipo", "127.0.0.1:0") as receiver, \
            socket.create_connection(("127.0.0.1", receiver.port)) as pbx:
        select.select(receiver.filenos(), [], [], WAIT)
        receiver.read_events()                                    # accepted
        pbx.sendall(line[:-3])
        assert readable(receiver, WAIT) and receiver.read_events() == []
        pbx.sendall(line[-3:])                                    # three more bytes: the line is whole
        assert readable(receiver, WAIT)
        assert [e.raw for e in receiver.read_events()] == [line[:-2]]


def test_while_whole_lines_wait_for_durability_a_single_record_does_not_wake_it_but_the_release_does():
    burst, one = lines(60), lines(1)[0]
    with AvayaReceiver("ipo", "127.0.0.1:0") as receiver, \
            socket.create_connection(("127.0.0.1", receiver.port)) as pbx:
        select.select(receiver.filenos(), [], [], WAIT)
        receiver.read_events()
        pbx.sendall(b"".join(burst))
        got: list = []
        while len(got) < len(burst):
            assert readable(receiver, WAIT)
            got += receiver.read_events()
        mark = receiver.mark()
        pbx.sendall(one)
        assert not readable(receiver, 0.2)                        # would re-peek everything held for one line
        receiver.release(mark)                                    # durable: the held bytes leave the kernel
        assert readable(receiver, WAIT)
        assert [e.raw for e in receiver.read_events()] == [one[:-2]]
