"""PbxClock gives exactly what local_to_utc + iso_utc give, across DST changes in several zones."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from appliance.calls.pbxtime import PbxClock
from appliance.common.time import iso_utc, local_to_utc

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns"]


def slow(local: datetime, tz) -> str:
    return iso_utc(local_to_utc(local, tz))


@pytest.mark.parametrize("zone", ZONES)
def test_every_second_around_each_dst_change_and_random_times_match_the_slow_path(zone):
    tz = ZoneInfo(zone)
    clock = PbxClock()
    times = []
    for year in (2025, 2026):               # every DST change of the zone, minute by minute around it
        probe = datetime(year, 1, 1, tzinfo=timezone.utc)
        while probe.year == year:
            if probe.astimezone(tz).utcoffset() != (probe + timedelta(hours=6)).astimezone(tz).utcoffset():
                local = (probe.astimezone(tz)).replace(tzinfo=None, minute=0, second=0)
                times += [local + timedelta(seconds=s) for s in range(-3 * 3600, 9 * 3600, 59)]
            probe += timedelta(hours=6)
    rand = random.Random(zone)
    times += [datetime(2026, 1, 1) + timedelta(seconds=rand.randrange(400 * 86400)) for _ in range(3000)]
    for local in times:
        epoch = clock.epoch(local, tz)
        if epoch is None:                   # an hour the clock leaves to the slow path
            continue
        assert clock.iso(epoch) + "Z" == slow(local, tz), local


def test_an_hour_with_a_change_inside_it_is_left_to_the_slow_path():
    lord_howe = ZoneInfo("Australia/Lord_Howe")   # clocks go from 02:00 to 02:30 on the first Sunday of October
    assert PbxClock().epoch(datetime(2026, 10, 4, 2, 45, 0), lord_howe) is None
    assert PbxClock().epoch(datetime(2026, 10, 4, 3, 45, 0), lord_howe) is not None


def test_times_it_does_not_cover_are_left_to_the_slow_path():
    clock = PbxClock()
    assert clock.epoch(datetime(2026, 1, 1, 9, 0, 0, 500), timezone.utc) is None             # sub-second
    assert clock.epoch(datetime(2026, 1, 1, 9, 0, 0, tzinfo=timezone.utc), timezone.utc) is None   # aware
