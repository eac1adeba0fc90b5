"""The real daemon under a supervisor that speaks systemd's protocol, with the fd store on: kill -9 mid-stream
loses nothing that was on the wire, and stores nothing twice."""
from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from firmware_bridge.pty import EmulatedPort
from firmware_bridge.smdr.avaya import encode_record as encode_avaya
from firmware_bridge.smdr.emulator import AvayaEmulator, PanasonicEmulator
from firmware_bridge.smdr.panasonic import PanasonicOptions
from firmware_bridge.smdr.traffic import generate_avaya_calls, generate_panasonic_calls, in_output_order
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for
from tests.system.test_daemon_smdr import cdr_count, db_rows, write_config

pytestmark = pytest.mark.system
STORE_MAX = 16            # the unit's FileDescriptorStoreMax= is larger; a few are enough here


def raws(tmp_path: Path, source: str) -> Counter:
    return Counter(r[0] for r in db_rows(tmp_path, "SELECT raw FROM cdr WHERE source = ?", (source,)))


def test_kill9_during_an_avaya_stream_loses_nothing_the_pbx_sent_and_stores_nothing_twice(tmp_path):
    """The PBX never re-sends here: every record it wrote must come out of the kept connection."""
    port = free_port()
    records = in_output_order(generate_avaya_calls(2500, start=datetime(2026, 7, 1, 8), seed=31))
    rng = random.Random(17)
    with DaemonProcess(write_config(tmp_path, avaya_port=port), fd_store_max=STORE_MAX) as daemon:
        daemon.start()
        with AvayaEmulator("127.0.0.1", port, buffer_limit=len(records), max_chunk=1500,
                           chunk_delay=0.004) as pbx:
            pbx.send(records)                                  # paced: the kills land mid-stream
            for kill, target in enumerate(sorted(rng.sample(range(100, len(records) - 100), 4))):
                wait_for(lambda: cdr_count(tmp_path, "ipo") >= target, 30, message=f"progress before kill {kill}")
                if kill == 2:
                    assert daemon.terminate() == 0             # a clean restart keeps them too
                else:
                    daemon.kill()
                daemon.start()
            assert pbx.wait_sent(60)
            wait_for(lambda: cdr_count(tmp_path, "ipo") >= len(records), 30, message="every record stored")
            assert pbx.connections == 1                        # the PBX's connection outlived every restart
            assert sorted(daemon.stored_names()) == ["ipo.conn0", "ipo.listen"]
        assert daemon.terminate() == 0
    assert "ipo: took over 1 PBX connection(s) kept across the restart" in daemon.log_text()
    assert raws(tmp_path, "ipo") == Counter(encode_avaya(r)[:-2].decode("latin-1") for r in records)
    assert db_rows(tmp_path, "SELECT count(*) FROM outbox")[0][0] == len(records)   # queued once each


def test_kill9_while_a_panasonic_prints_keeps_what_arrived_while_the_daemon_was_down(tmp_path):
    options = PanasonicOptions(date_order="DMY")
    lines = [r for call in generate_panasonic_calls(700, start=datetime(2026, 7, 2, 8), seed=32, options=options)
             for r in call]
    pty = EmulatedPort(str(tmp_path / "ttyPBX"))
    pbx = PanasonicEmulator(pty, options)
    stop = threading.Event()

    def printer():
        for line in lines:
            if stop.wait(0.002):
                return
            pbx.write_record(line)

    downtime: list[tuple[int, int]] = []                       # pbx.written indices: [after kill, at READY)
    thread = threading.Thread(target=printer, name="test-panasonic-printer")
    try:
        with DaemonProcess(write_config(tmp_path, panasonic=pty.path), fd_store_max=STORE_MAX) as daemon:
            daemon.start()
            thread.start()
            for kill in range(3):
                wait_for(lambda: len(pbx.written) >= (kill + 1) * len(lines) // 5, 30, message=f"printing {kill}")
                daemon.kill()
                after_kill = len(pbx.written)
                daemon.start()
                downtime.append((after_kill, len(pbx.written)))
                # A line the dead daemon had half read is cut short (its start died with the process): from
                # the next one on, everything printed while it was down is stored by the next daemon. (Wait
                # for it before the next kill: what a daemon has read but not committed dies with it.)
                must = {pbx.written[i].decode("latin-1") for i in range(after_kill + 1, downtime[-1][1])}
                wait_for(lambda: must <= set(raws(tmp_path, "kxtda")), 30, message=f"what was printed while down {kill}")
            thread.join(60)
            assert not thread.is_alive()
            written = [line.decode("latin-1") for line in pbx.written]
            wait_for(lambda: set(written[downtime[-1][1]:]) <= set(raws(tmp_path, "kxtda")), 30,
                     message="what was printed after the last restart")
            assert daemon.terminate() == 0
            stored = raws(tmp_path, "kxtda")
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(10)
        pty.close()
    assert sum(b - a - 1 for a, b in downtime) >= 30          # the restarts really were mid-print
    assert max(stored.values()) == 1 and set(stored) <= set(written)
    assert "kxtda: took over the port kept across the restart" in daemon.log_text()


def test_descriptors_of_a_device_no_longer_configured_are_closed_and_removed(tmp_path):
    port = free_port()
    config = write_config(tmp_path, avaya_port=port)
    with DaemonProcess(config, fd_store_max=STORE_MAX) as daemon:
        daemon.start()
        with AvayaEmulator("127.0.0.1", port, reconnect_delay=5.0) as pbx:
            assert pbx.wait_connections(1, 10)
            wait_for(lambda: sorted(daemon.stored_names()) == ["ipo.conn0", "ipo.listen"], 10,
                     message="listener and connection stored")
            assert daemon.terminate() == 0
            config.write_text(config.read_text().split("[[pbx]]")[0])   # the PBX removed from the config
            daemon.start()
            wait_for(lambda: daemon.stored_names() == [], 10, message="the store emptied")
            wait_for(lambda: not pbx.connected, 10, message="the PBX sees its connection closed")
        assert daemon.terminate() == 0
    assert "ipo.listen belongs to no configured device" in daemon.log_text()
