"""Deterministic, realistic call traffic as SMDR records, for emulators, demos and benchmarks."""
from __future__ import annotations

import functools
import gc
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta

from ..events import AvayaSmdrRecord, PanasonicSmdrRecord
from .panasonic import LAYOUT_B, PanasonicOptions, format_end_time, layouts_for

_FIRST = ("Joe", "Anna", "Ravi", "Mia", "Tom", "Sara", "Omar", "Lena", "Ben", "Chloe", "Ivan",
          "Nora", "Sam", "Priya", "Luca", "Zoe", "Adam", "Ella", "Noah", "Ruth")
_LAST = ("Bloggs", "Smith", "Patel", "Jones", "Khan", "Brown", "Novak", "Evans", "Walsh", "Reid")
_AGENTS = tuple((str(4201 + i), f"{_FIRST[i % 20]} {_LAST[(i * 7) % 10]}", f"E{4201 + i}")
                for i in range(40))
_TRUNKS = tuple((f"T{9001 + i}", f"LINE 1.{i + 1}") for i in range(24))     # T9002 = LINE 1.2
_VOICEMAIL = tuple((f"V{9501 + i}", f"VM Channel {i + 1}") for i in range(8))
_DDIS = ("299999", "299998", "4300", "4301")
_AREAS = ("1707", "20", "161", "121", "113", "131", "1223", "1865")

# Call mix of a small inbound centre, as a 100-slot table indexed by a random percentage.
_KINDS = ("answered",) * 45 + ("abandoned",) * 15 + ("outbound",) * 23 + ("internal",) * 8 \
    + ("transfer",) * 9


def _external_number(rand) -> str:
    if rand() < 0.35:
        return f"07{100000000 + int(rand() * 899999999)}"             # UK mobile
    area = _AREAS[int(rand() * len(_AREAS))]
    low = 10 ** (9 - len(area))
    return f"0{area}{low + int(rand() * 9 * low)}"


@functools.cache
def _times_of_day() -> tuple[str, ...]:
    """"00:00:00" .. "23:59:59", built once: cheaper than formatting a million timestamps."""
    return tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))


class _Clock:
    """Call start times as IP Office prints them, formatted cheaply (one strftime per day)."""

    def __init__(self, start: datetime):
        self.day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self.offset = (start - self.day).seconds
        self.prefix = self.day.strftime("%Y/%m/%d ")

    def advance(self, seconds: int) -> str:
        self.offset += seconds
        if self.offset >= 86400:
            days, self.offset = divmod(self.offset, 86400)
            self.day += timedelta(days=days)
            self.prefix = self.day.strftime("%Y/%m/%d ")
        return self.prefix + _times_of_day()[self.offset]


def generate_avaya_calls(n: int, *, start: datetime, seed: int,
                         first_call_id: int = 1000014155) -> list[list[AvayaSmdrRecord]]:
    """`n` calls, each as the IP Office SMDR records it produces, in call-start order; the first
    starts at `start`.

    Mix: answered and abandoned (connected 0) inbound, outbound, internal, and transfers (2-3
    records sharing a Call ID, Continuation=1 on all but the last, often ending in voicemail).
    Same seed, same calls. Records carry no `raw` (encode them to get the wire bytes).
    """
    # A benchmark asks for a million records: random() and int() only (randrange costs ~1 us),
    # and, for big batches, no cyclic GC passes while we allocate (the records hold no cycles;
    # the passes took half the time). Small batches (the demo) leave the collector alone.
    if n < 10_000:
        return _avaya_calls(n, start, seed, first_call_id)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _avaya_calls(n, start, seed, first_call_id)
    finally:
        if was_enabled:
            gc.enable()


def _avaya_calls(n: int, start: datetime, seed: int, first_call_id: int) -> list[list[AvayaSmdrRecord]]:
    rand = random.Random(seed).random
    log = math.log
    clock = _Clock(start)
    R = AvayaSmdrRecord
    calls: list[list[AvayaSmdrRecord]] = []
    append = calls.append
    for i in range(n):
        # The first call starts at `start`; then Poisson arrivals, one every 20 s on average.
        when = clock.advance(int(-20.0 * log(1.0 - rand())) + 1 if i else 0)
        call_id = str(first_call_id + i)
        agent, agent_name, agent_device = _AGENTS[int(rand() * 40)]
        trunk, line = _TRUNKS[int(rand() * 24)]
        kind = _KINDS[int(rand() * 100)]
        if kind == "answered":
            caller = _external_number(rand) if rand() > 0.05 else ""      # 5% withheld
            ddi = _DDIS[int(rand() * 4)]
            hold = 5 + int(rand() * 115) if rand() < 0.15 else 0
            append([R(when, 10 + int(rand() * 890), 1 + int(rand() * 29), caller, "I", ddi, ddi, "",
                      False, call_id, False, agent_device, agent_name, trunk, line, hold, 0)])
        elif kind == "abandoned":
            caller = _external_number(rand) if rand() > 0.05 else ""
            ddi = _DDIS[int(rand() * 4)]
            append([R(when, 0, 5 + int(rand() * 55), caller, "I", ddi, ddi, "", False, call_id,
                      False, agent_device, agent_name, trunk, line, 0, 0)])
        elif kind == "outbound":
            number = _external_number(rand)
            connected = 0 if rand() < 0.2 else 20 + int(rand() * 580)
            append([R(when, connected, int(rand() * 20), agent, "O", number, "9" + number, "",
                      False, call_id, False, agent_device, agent_name, trunk, line, 0, 0)])
        elif kind == "internal":
            other, other_name, other_device = _AGENTS[int(rand() * 40)]
            append([R(when, 5 + int(rand() * 295), 1 + int(rand() * 9), agent, "O", other, other,
                      "", True, call_id, False, agent_device, agent_name, other_device, other_name,
                      0, 0)])
        else:
            caller = _external_number(rand)
            ddi = _DDIS[int(rand() * 4)]
            legs = [R(when, 10 + int(rand() * 290), 1 + int(rand() * 19), caller, "I", ddi, ddi, "",
                      False, call_id, True, agent_device, agent_name, trunk, line,
                      5 + int(rand() * 35), 0)]
            if rand() < 0.5:
                other, other_name, other_device = _AGENTS[int(rand() * 40)]
                legs.append(R(when, 10 + int(rand() * 290), 1 + int(rand() * 14), caller, "I", ddi,
                              ddi, "", False, call_id, True, other_device, other_name, trunk, line,
                              0, 0))
            if len(legs) == 1 or rand() < 0.6:
                vm, vm_name = _VOICEMAIL[int(rand() * 8)]
                legs.append(R(when, 8 + int(rand() * 52), 0, caller, "I", ddi, ddi, "", False,
                              call_id, False, vm, vm_name, trunk, line, 0, 0))
            else:
                legs[-1] = replace(legs[-1], continuation=False)    # transferred to a colleague
            append(legs)
    return calls


def avaya_call_end(call: list[AvayaSmdrRecord]) -> datetime:
    """When IP Office writes the call's last record: start + ring + connected + hold + park of
    every leg (legs follow one another)."""
    began = datetime.strptime(call[0].call_start, "%Y/%m/%d %H:%M:%S")
    return began + timedelta(seconds=sum(r.ring_s + r.connected_s + r.hold_s + r.park_s
                                         for r in call))


def in_output_order(calls: list[list[AvayaSmdrRecord]]) -> list[AvayaSmdrRecord]:
    """All records in the order IP Office sends them: by the end of each call (records are
    written when the call ends), a call's legs together."""
    return [rec for call in sorted(calls, key=avaya_call_end) for rec in call]


def generate_panasonic_calls(n: int, *, start: datetime, seed: int,
                             options: PanasonicOptions | None = None) -> list[list[PanasonicSmdrRecord]]:
    """`n` calls as Panasonic SMDR lines (one per call, two for a transfer), in call-start order;
    the first starts at `start`.

    Dates and times are the call's end, printed as `options` say. A cost is printed on outgoing
    calls when the options ask for a cost column; pattern B (80 columns with cost) has no ring
    column, so rings are left out there. Intercom calls (EXT...) have no CO and no duration.
    """
    options = options or PanasonicOptions()
    layout = layouts_for(options)[0]
    with_cost = options.cost_column is True
    currency = "EUR" if layout.width == 120 else "EU"
    has_ring = layout is not LAYOUT_B
    rng = random.Random(seed)
    randrange, rand = rng.randrange, rng.random
    now = start
    calls: list[list[PanasonicSmdrRecord]] = []
    P = PanasonicSmdrRecord

    def stamp(seconds: int) -> tuple[str, str]:
        return format_end_time(now + timedelta(seconds=seconds), options)

    for i in range(n):
        if i:
            now += timedelta(seconds=int(rng.expovariate(1 / 20)) + 1)
        ext = _AGENTS[randrange(40)][0]
        co = f"{randrange(1, 17):02d}" if layout.width == 80 else f"{randrange(1, 17):04d}"
        kind = _KINDS[randrange(100)]
        if kind in ("answered", "abandoned", "transfer"):
            caller = _external_number(rand)
            dial = "<I>" + caller if rand() > 0.1 else "<I>ABC COMPANY"
            ring = randrange(1, 30) if kind != "abandoned" else randrange(5, 60)
            talk = 0 if kind == "abandoned" else randrange(10, 900)
            date, time = stamp(ring + talk)
            first = P(date, time, ext, co, dial, ring if has_ring else None, talk,
                      condition="TR" if kind == "transfer" else "")
            call = [first]
            if kind == "transfer":
                more = randrange(10, 300)
                date, time = stamp(ring + talk + more)
                call.append(P(date, time, _AGENTS[randrange(40)][0], co, dial,
                              0 if has_ring else None, more))
            calls.append(call)
        elif kind == "outbound":
            talk = randrange(10, 600)
            date, time = stamp(talk)
            cost = f"{randrange(1, 250000) / 100:08.2f}{currency}" if with_cost else ""
            acc = str(randrange(1000, 9999)) if rand() < 0.2 else ""
            calls.append([P(date, time, ext, co, _external_number(rand), None, talk, acc, cost)])
        else:
            date, time = stamp(randrange(5, 300))
            calls.append([P(date, time, ext, "", "EXT" + _AGENTS[randrange(40)][0], None, None)])
    return calls
