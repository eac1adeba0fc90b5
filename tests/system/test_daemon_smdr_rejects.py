"""The real daemon over real TCP: an Avaya line with a NUL inside a field or more than 35 fields is
kept raw as rejected input, never stored as a call."""
from __future__ import annotations

from datetime import datetime

import pytest

from firmware_bridge.smdr.avaya import encode_record as encode_avaya
from firmware_bridge.smdr.emulator import AvayaEmulator
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.waiting import free_port, wait_for
from tests.system.test_daemon_smdr import cdr_count, db_rows, write_config

pytestmark = pytest.mark.system


def test_nul_inside_a_field_and_a_36_field_line_are_rejected_raw_not_stored(tmp_path):
    port = free_port()
    records = in_output_order(generate_avaya_calls(6, start=datetime(2026, 4, 5, 9, 30), seed=11))
    good = [encode_avaya(r)[:-2] for r in records]
    # Two lines that look like records: one with a NUL in the caller field, one with a 36th field.
    fields = good[0].split(b",")
    fields[3] = fields[3][:2] + b"\x00" + fields[3][2:]
    with_nul = b",".join(fields).replace(b"2026/04/05", b"2026/04/04")
    too_many = good[1].replace(b"2026/04/05", b"2026/04/03") + b"," * (35 - good[1].count(b",")) + b"x"
    assert too_many.count(b",") == 35
    with DaemonProcess(write_config(tmp_path, avaya_port=port)) as daemon:
        daemon.start()
        with AvayaEmulator("127.0.0.1", port, leading_nuls=2) as pbx:
            pbx.send(records[:3])
            pbx.send_raw(b"\x00\x00" + with_nul + b"\r\n" + too_many + b"\r\n")
            pbx.send(records[3:])
            assert pbx.wait_sent(20)
            wait_for(lambda: cdr_count(tmp_path, "ipo") == len(records)
                     and len(db_rows(tmp_path, "SELECT raw FROM rejected_raw")) == 2, 20,
                     message="good records stored and the two bad lines kept")
        assert daemon.terminate() == 0

    stored = {r[0] for r in db_rows(tmp_path, "SELECT raw FROM cdr WHERE source='ipo'")}
    assert stored == {line.decode("latin-1") for line in good}
    assert not any(day in raw for raw in stored for day in ("2026/04/04", "2026/04/03"))
    rejected = db_rows(tmp_path, "SELECT source, reason, raw FROM rejected_raw ORDER BY id")
    assert [(source, bytes(raw)) for source, _, raw in rejected] == [("ipo", with_nul), ("ipo", too_many)]
    assert "NUL byte inside field 4" in rejected[0][1]
    assert "36 comma-separated fields" in rejected[1][1]
