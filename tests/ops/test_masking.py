"""Log masking hides phone numbers and leaves record keys whole, so a technician can look a key up."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from appliance.calls import CallTracker, DeviceInfo
from appliance.ops.masking import mask_text
from firmware_bridge.events import CallConnected, CallEnded, CallerId, Ring
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order

SITE = "site-a"
NOW = datetime(2026, 4, 5, 9, 30, tzinfo=timezone.utc)
AVAYA = DeviceInfo(name="pbx1", kind="avaya-ipo", queue="sales")
GSM = DeviceInfo(name="line1", kind="gsm", queue="sales", line_number="+441632960001")


def smdr_records(n: int):
    """CDRs made by the real call tracker from a generated IP Office stream (keys with digests)."""
    tracker = CallTracker(SITE)
    records = in_output_order(generate_avaya_calls(n, start=datetime(2026, 4, 5, 9, 30), seed=5))
    return [cdr for rec in records for cdr in tracker.handle(AVAYA, rec, NOW)]


def line_records(n: int):
    """CDRs of GSM line calls from the real tracker with its default key maker (uuid4 hex)."""
    tracker = CallTracker(SITE)
    out = []
    for i in range(n):
        for event in (Ring(), CallerId(f"+4477009{i:05d}"), CallConnected(), CallEnded("no_carrier")):
            out += tracker.handle(GSM, event, NOW)
    return out


def test_smdr_and_line_keys_pass_through_whole():
    cdrs = smdr_records(400) + line_records(200)
    assert len(cdrs) >= 600
    keys = [c.key for c in cdrs]
    assert any("/pbx1/2026" in k for k in keys) and any("/line1/" in k for k in keys)
    assert [mask_text(k) for k in keys] == keys


def test_a_log_line_keeps_the_key_and_masks_the_numbers_beside_it():
    for cdr in smdr_records(100) + line_records(50):
        line = (f"central 10.0.0.1:7443 rejected 1 record(s), kept in the dead-letter table "
                f"(first: {cdr.key}: caller {cdr.caller} not allowed)")
        masked = mask_text(line)
        assert cdr.key in masked
        digits = sum(ch.isdigit() for ch in cdr.caller)
        if digits > 4:
            assert cdr.caller not in masked
            assert f"caller {cdr.caller[:-4].translate(str.maketrans('0123456789', '*' * 10))}" \
                   f"{cdr.caller[-4:]} not allowed" in masked


@pytest.mark.parametrize("text, expected", [
    ("caller +44 7700 900123 rang", "caller +** **** **0123 rang"),
    ("2008/06/28 09:28:41,00:00:00,9,8004206,I,4324", "2008/06/28 09:28:41,00:00:00,9,***4206,I,4324"),
    ("number=07700900123,", "number=*******0123,"),
    ("tel:+447700900123", "tel:+********0123"),
    ("at 2026-04-05T09:30:00Z from 10.20.30.40:1150", "at 2026-04-05T09:30:00Z from 10.20.30.40:1150"),
    ("/var/lib/appliance/appliance.db.corrupt-20260405093000", "/var/lib/appliance/appliance.db.corrupt-20260405093000"),
    ("extension 4324", "extension 4324"),
])
def test_numbers_are_masked_and_what_is_not_a_number_is_left(text, expected):
    assert mask_text(text) == expected
