"""PBX call legs (SMDR) to call records: one leg, one record, keyed by the record's own content."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware_bridge.events import PbxLeg

from appliance.calls.pbxtime import PbxClock
from appliance.calls.record import CallRecord
from appliance.calls.source import DeviceInfo
from appliance.common.time import as_utc, local_to_utc


@dataclass(slots=True)
class _OpenLegs:
    legs: int
    keys: list[str]
    last_seen: datetime | None


def _smdr_key(site_id: str, source: str, key_source: bytes, when: str | None) -> str:
    """Same bytes from the PBX => same key, so a re-sent record is stored once.

    The record's own time leads the key so keys arrive in nearly sorted order: the store's
    unique index then grows at its end instead of at random pages (flat insert speed at
    millions of rows). `when` is that time as _iso text, None when it could not be read.
    """
    digest = hashlib.sha256(key_source).hexdigest()[:20]
    stamp = "0" if when is None else when.replace("-", "").replace(":", "")
    return f"{site_id}/{source}/{stamp}-{digest}"


_DISPOSITIONS = {(True, True): "answered", (True, False): "abandoned", (False, True): "answered",
                 (False, False): "no_answer"}    # (inbound?, answered?)


def _iso(utc: datetime) -> str:
    """An aware UTC time as "YYYY-MM-DDTHH:MM:SS" (common.time.iso_utc without its "Z"), in C."""
    return utc.isoformat(timespec="seconds")[:19]


class SmdrCalls:
    """The SMDR half of the call tracker. Its only state is the legs of PBX calls whose last
    record (final) has not arrived yet, so legs keep their numbers across records."""

    def __init__(self, site_id: str, *, open_leg_ttl_s: float = 86400.0):
        self.site_id = site_id
        self.open_leg_ttl_s = open_leg_ttl_s
        self.clock_fallbacks = 0     # records timed by arrival because their own time was unusable
        self._legs: dict[tuple[str, str], _OpenLegs] = {}
        self._clock = PbxClock()

    def seed_open_legs(self, source: str, legs: dict[str, int]) -> None:
        for call_id, n in legs.items():
            self._legs[(source, call_id)] = _OpenLegs(legs=n, keys=[], last_seen=None)

    def forget_stale_legs(self, now: datetime) -> None:
        """PBX calls whose last leg never came are forgotten after open_leg_ttl_s."""
        for k, open_legs in list(self._legs.items()):
            if open_legs.last_seen is None:
                open_legs.last_seen = now
            elif (now - open_legs.last_seen).total_seconds() >= self.open_leg_ttl_s:
                del self._legs[k]

    def leg(self, info: DeviceInfo, leg: PbxLeg, now: datetime) -> CallRecord:
        """One leg = one record. Times: the printed time is PBX local (info.tz) and is the leg's
        start, or its end (start = end - ring - talk - hold); answered = start + ring. A time that
        cannot be read falls back to the arrival time, taken as the end. Legs sharing a call id
        are numbered 1, 2, ... in arrival order; the final leg closes the call.
        """
        started_at, answered_at, ended_at = self._times(info, leg, now)
        key = _smdr_key(self.site_id, info.name, leg.key_source,
                        None if leg.printed_at is None else (ended_at if leg.printed_is_end else started_at))
        disposition = _DISPOSITIONS[leg.direction == "inbound", bool(leg.answered)]
        number = self._number(info.name, leg.call_id, key, final=leg.final, now=now)
        # Positional, in CallRecord's field order (key, site_id, source, source_kind, direction, caller,
        # callee, dialled_number, queue, agent, started_at, answered_at, ended_at, ring_s, talk_s, hold_s,
        # disposition, pbx_call_id, leg, final_leg, caller_name, raw): 22 keywords cost more than the
        # rest of this function, once per record.
        return CallRecord(
            key, self.site_id, info.name, info.kind, leg.direction, leg.caller, leg.callee, leg.dialled,
            info.queue, leg.agent, started_at + "Z", answered_at + "Z" if answered_at else "", ended_at + "Z",
            leg.ring_s, leg.talk_s, leg.hold_s, disposition, leg.call_id, number, leg.final, leg.caller_name,
            leg.raw.decode("latin-1"))

    def _times(self, info: DeviceInfo, leg: PbxLeg, now: datetime) -> tuple[str, str, str]:
        """(started, answered or "", ended) as _iso text (no "Z")."""
        total = leg.ring_s + leg.talk_s + leg.hold_s
        epoch = None if leg.printed_at is None else self._clock.epoch(leg.printed_at, info.tz)
        if epoch is not None:                       # the usual case: integer seconds, cached text
            start = epoch - total if leg.printed_is_end else epoch
            iso = self._clock.iso
            started_at = iso(start)
            return (started_at, iso(start + leg.ring_s) if leg.answered else "",
                    iso(start + total) if total else started_at)
        if leg.printed_at is None:
            self.clock_fallbacks += 1
            started = as_utc(now) - timedelta(seconds=total)
        else:
            printed = local_to_utc(leg.printed_at, info.tz)
            started = printed - timedelta(seconds=total) if leg.printed_is_end else printed
        return (_iso(started), _iso(started + timedelta(seconds=leg.ring_s)) if leg.answered else "",
                _iso(started + timedelta(seconds=total)))

    def _number(self, source: str, call_id: str, key: str, *, final: bool, now: datetime) -> int:
        if not call_id:
            return 0
        k = (source, call_id)
        open_legs = self._legs.get(k)
        if open_legs is not None and key in open_legs.keys:
            return open_legs.keys.index(key) + 1 + (open_legs.legs - len(open_legs.keys))  # a re-send
        if open_legs is None:
            open_legs = self._legs[k] = _OpenLegs(legs=0, keys=[], last_seen=now)
        open_legs.legs += 1
        open_legs.keys.append(key)
        open_legs.last_seen = now
        number = open_legs.legs
        if final:
            del self._legs[k]
        return number
