"""A seeded day of a site's calls, made the way the daemon makes records: SMDR lines parsed by the
real codecs and line events run through the real CallTracker. Each record comes with the moment the
site had it (the call's end), so it can be fed to the engine in that order."""
from __future__ import annotations

import dataclasses
import itertools
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.calls.tracker import CallTracker, DeviceInfo
from appliance.common.time import local_to_utc
from appliance.calls.record import CallRecord
from appliance.stats.settings import QueueSettings
from firmware_bridge.events import (AvayaSmdrRecord, CallConnected, CallEnded, CallerId, CommandResult,
                                    Ring)
from firmware_bridge.smdr.legs import leg_reader
from firmware_bridge.smdr import avaya, panasonic
from firmware_bridge.smdr.traffic import avaya_call_end, generate_avaya_calls, generate_panasonic_calls

SITE = "site-a"
TZ = ZoneInfo("Europe/London")
DAY = date(2026, 10, 25)            # the clocks go back: a 25-hour day
QUEUES = (QueueSettings("support", service_level_s=20, short_abandon_s=5, window_s=3600),
          QueueSettings("sales", service_level_s=15, short_abandon_s=8, window_s=1800),
          QueueSettings("billing", service_level_s=15, short_abandon_s=3, window_s=900))


@dataclass(frozen=True)
class Emitted:
    at: datetime                    # UTC, when the site had the record
    record: CallRecord


def _local(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """Naive PBX wall-clock time on DAY (+days)."""
    d = DAY + timedelta(days=days)
    return datetime(d.year, d.month, d.day, hour, minute)


def avaya_day(seed: int, tracker: CallTracker) -> list[Emitted]:
    """IP Office traffic from 23:00 the evening before to after the next midnight, queue "sales":
    the generator's mix (answered, abandoned, outbound, internal, 2-3 leg transfers) plus short
    abandons and calls that voicemail picks up directly."""
    rng = random.Random(seed)
    calls = generate_avaya_calls(4700, start=_local(23, days=-1), seed=seed)
    for n in range(400):
        when = _local(0) + timedelta(seconds=rng.randrange(0, 25 * 3600))
        start = when.strftime("%Y/%m/%d %H:%M:%S")
        call_id = str(2_000_000_000 + n)
        if n % 4:      # a caller gone within a few seconds (some exactly at the threshold)
            calls.append([AvayaSmdrRecord(start, 0, rng.randrange(0, 10), "01707392200", "I", "4300", "4300", "",
                                          False, call_id, False, "E4201", "Joe Bloggs", "T9001", "LINE 1.1",
                                          0, 0)])
        else:          # voicemail answers: no agent reached
            calls.append([AvayaSmdrRecord(start, rng.randrange(8, 60), rng.randrange(10, 40), "01707392200",
                                          "I", "4300", "4300", "", False, call_id, False, "V9501",
                                          "VM Channel 1", "T9001", "LINE 1.1", 0, 0)])
    info = DeviceInfo(name="pbx1", kind="avaya-ipo", queue="sales", tz=TZ)
    out = []
    for call in sorted(calls, key=avaya_call_end):
        end = local_to_utc(avaya_call_end(call), TZ)
        for rec in call:
            parsed = avaya.parse_line(avaya.encode_record(rec).rstrip(b"\r\n"))
            out += [Emitted(end, r) for r in tracker.handle(info, parsed, end)]
    return out


def panasonic_evening(seed: int, tracker: CallTracker) -> list[Emitted]:
    """A Panasonic PBX on queue "billing" from 17:00 until after midnight (printed lines, parsed)."""
    options = panasonic.PanasonicOptions(date_order="DMY", clock="24h")
    info = DeviceInfo(name="kx1", kind="panasonic", queue="billing", tz=TZ,
                      to_leg=leg_reader(options))
    out = []
    for call in generate_panasonic_calls(1500, start=_local(17), seed=seed, options=options):
        for rec in call:
            parsed = panasonic.parse_line(panasonic.encode_record(rec, options), options)
            end = local_to_utc(panasonic.panasonic_end_time(parsed, options), TZ)
            out += [Emitted(end, r) for r in tracker.handle(info, parsed, end)]
    return out


def line_day(seed: int, tracker: CallTracker, info: DeviceInfo, rng_wrap: random.Random) -> list[Emitted]:
    """One line's calls, one at a time, from 30 min before DAY to 30 min after it (UTC)."""
    rng = random.Random(seed)
    t = local_to_utc(_local(0), TZ) - timedelta(minutes=30)
    stop = local_to_utc(_local(0, days=1), TZ) + timedelta(minutes=30)
    out: list[Emitted] = []

    def emit(records, when):
        for r in records:
            if r.disposition == "answered" and r.direction == "inbound":
                r = dataclasses.replace(r, wrap_up_s=rng_wrap.randrange(0, 45))   # what the agent layer adds
            out.append(Emitted(when, r))

    def ring_until(until_s: int) -> None:
        emit(tracker.handle(info, Ring(), t), t)
        if until_s:
            tracker.handle(info, CallerId(f"+4477009{rng.randrange(10000, 99999)}"), t + timedelta(seconds=0.2))
        for s in range(3, until_s, 3):
            emit(tracker.handle(info, Ring(), t + timedelta(seconds=s)), t)

    while t < stop:
        kind = rng.random()
        if kind < 0.55:                                   # answered
            ring, talk = rng.randrange(1, 45), rng.randrange(20, 600)
            ring_until(ring)
            tracker.handle(info, CallConnected(), t + timedelta(seconds=ring))
            end = t + timedelta(seconds=ring + talk)
            emit(tracker.handle(info, CallEnded("no_carrier"), end), end)
        elif kind < 0.87:                                 # abandoned; a third of them within seconds
            ring = rng.randrange(5, 90) if kind < 0.75 else rng.randrange(0, 6)
            ring_until(ring)
            end = t + timedelta(seconds=ring)
            emit(tracker.handle(info, CallEnded("no_carrier"), end), end)
        elif kind < 0.90:                                 # the line fails while the caller waits
            ring = rng.randrange(2, 30)
            ring_until(ring)
            end = t + timedelta(seconds=ring)
            emit(tracker.device_down(info.name, end), end)
        else:                                             # an outbound call: not a queue offer
            talk = rng.randrange(10, 300)
            tracker.handle(info, CommandResult(f"ATD+4420794{rng.randrange(10000, 99999)};", ok=True), t)
            tracker.handle(info, CallConnected(), t + timedelta(seconds=6))
            end = t + timedelta(seconds=6 + talk)
            emit(tracker.handle(info, CallEnded("no_carrier"), end), end)
        t = end + timedelta(seconds=rng.randrange(5, 900))
    return out


def site_day(seed: int) -> list[Emitted]:
    """Every record of the site's day in the order the site had them, with ~2 % sent twice."""
    counter = itertools.count(1)
    tracker = CallTracker(SITE, new_id=lambda: f"id{next(counter)}")
    rng = random.Random(seed)
    lines = [DeviceInfo(name=f"line{i}", kind="gsm", queue="support", line_number="+441632960001")
             for i in range(1, 4)]
    lines += [DeviceInfo(name="modem1", kind="voice-modem", queue="billing"),
              DeviceInfo(name="spare", kind="gsm", queue="")]
    emitted = avaya_day(seed, tracker) + panasonic_evening(seed + 1, tracker)
    for i, info in enumerate(lines):
        emitted += line_day(seed + 10 + i, tracker, info, rng)
    emitted += [e for e in emitted if rng.random() < 0.02]       # re-sent records
    return sorted(emitted, key=lambda e: e.at)
