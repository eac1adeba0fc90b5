"""PBX call records (SMDR) to CDRs: one record is one call leg, keyed by its own content."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

from firmware_bridge.events import AvayaSmdrRecord, PanasonicSmdrRecord

from appliance.common.time import iso_utc, local_to_utc
from appliance.calls.record import CallRecord

if TYPE_CHECKING:
    from appliance.calls.tracker import DeviceInfo

_NUMBERISH = re.compile(r"^\+?[\d\s\-*#]+$")


@dataclass(slots=True)
class _OpenLegs:
    legs: int
    keys: list[str]
    last_seen: datetime | None


def _avaya_time(text: str) -> datetime:
    """"YYYY/MM/DD HH:MM:SS" without strptime (a tenth of the cost on the ingest hot path)."""
    t = text.strip()
    if len(t) != 19 or t[4] != "/" or t[7] != "/" or t[10] != " " or t[13] != ":" or t[16] != ":":
        raise ValueError(f"not YYYY/MM/DD HH:MM:SS: {t!r}")
    return datetime(int(t[0:4]), int(t[5:7]), int(t[8:10]), int(t[11:13]), int(t[14:16]), int(t[17:19]))


def _smdr_key(site_id: str, source: str, raw: bytes, record, when: datetime | None) -> str:
    """Same bytes from the PBX => same key, so a re-sent record is stored once.

    The record's own time leads the key so keys arrive in nearly sorted order: the store's
    unique index then grows at its end instead of at random pages (flat insert speed at
    millions of rows). `when` is None when the record's time could not be read.
    """
    digest = hashlib.sha256(raw or repr(record).encode()).hexdigest()[:20]
    stamp = "0" if when is None else f"{when.year:04d}{when.month:02d}{when.day:02d}T{when.hour:02d}{when.minute:02d}{when.second:02d}"
    return f"{site_id}/{source}/{stamp}-{digest}"


class SmdrCalls:
    """The SMDR half of the call tracker. Its only state is the legs of PBX calls whose last
    record (Continuation=0) has not arrived yet, so legs keep their numbers across records."""

    def __init__(self, site_id: str, *, open_leg_ttl_s: float = 86400.0):
        self.site_id = site_id
        self.open_leg_ttl_s = open_leg_ttl_s
        self.clock_fallbacks = 0     # records timed by arrival because their own time was unusable
        self._legs: dict[tuple[str, str], _OpenLegs] = {}

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

    def avaya(self, info: DeviceInfo, rec: AvayaSmdrRecord, now: datetime) -> CallRecord:
        """One Avaya IP Office SMDR record = one leg.

        Direction: Is Internal => internal, else I => inbound, O => outbound. Times: Call Start
        is PBX local (info.tz); answered = start + ring when Connected > 0; end = start + ring +
        connected + hold + park. Agent: for inbound, the first E<ext> party when answered;
        for outbound/internal, Party1 when it is an E<ext> (the extension that placed the call).
        Legs sharing a Call ID are numbered 1, 2, ... in arrival order; Continuation=0 closes it.
        An unreadable Call Start falls back to now minus the record's total time.
        """
        total = rec.ring_s + rec.connected_s + rec.hold_s + rec.park_s
        try:
            started = local_to_utc(_avaya_time(rec.call_start), info.tz)
            when = started
        except ValueError:
            self.clock_fallbacks += 1
            started, when = now - timedelta(seconds=total), None
        answered = rec.connected_s > 0
        if rec.is_internal:
            direction = "internal"
        elif rec.direction.strip().upper() == "I":
            direction = "inbound"
        else:
            direction = "outbound"
        exts = [d[1:] for d in (rec.party1_device, rec.party2_device) if d.startswith("E")]
        if direction == "inbound":
            agent = exts[0] if answered and exts else ""
            disposition = "answered" if answered else "abandoned"
        else:
            agent = rec.party1_device[1:] if rec.party1_device.startswith("E") else ""
            disposition = "answered" if answered else "no_answer"
        key = _smdr_key(self.site_id, info.name, rec.raw, rec, when)
        leg = self._leg(info.name, rec.call_id, key, final=not rec.continuation, now=now)
        return CallRecord(
            key=key, site_id=self.site_id, source=info.name, source_kind=info.kind, direction=direction,
            caller=rec.caller, callee=rec.called_number, dialled_number=rec.dialled_number,
            queue=info.queue, agent=agent, started_at=iso_utc(started),
            answered_at=iso_utc(started + timedelta(seconds=rec.ring_s)) if answered else "",
            ended_at=iso_utc(started + timedelta(seconds=total)), ring_s=rec.ring_s, talk_s=rec.connected_s,
            hold_s=rec.hold_s + rec.park_s, disposition=disposition, pbx_call_id=rec.call_id, leg=leg,
            final_leg=not rec.continuation,
            caller_name=rec.party1_name if direction != "inbound" else "",
            raw=rec.raw.decode("latin-1"))

    def _leg(self, source: str, call_id: str, key: str, *, final: bool, now: datetime) -> int:
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
        leg = open_legs.legs
        if final:
            del self._legs[k]
        return leg

    def panasonic(self, info: DeviceInfo, rec: PanasonicSmdrRecord, now: datetime) -> CallRecord:
        """One Panasonic SMDR line = one call; the printed time is the call's END.

        Dial Number "<I>cli" or "<D>ddi<I>cli" => inbound (a non-numeric CLI is the caller's
        name), "EXT<n>" => internal, anything else => outbound (dialled digits as printed).
        Duration > 0 => answered. Agent = the Ext column (inbound: only when answered).
        """
        ended, timed = self._panasonic_end(info, rec, now)
        ring, duration = rec.ring_s or 0, rec.duration_s or 0
        started = ended - timedelta(seconds=ring + duration)
        dial, ext = rec.dial_number.strip(), rec.extension.strip()
        answered = duration > 0
        caller = callee = dialled = caller_name = ""
        if dial.startswith(("<I>", "<D>")):
            direction = "inbound"
            head, _, cli = dial.partition("<I>")
            callee = head[3:] if head.startswith("<D>") else ""
            cli = cli.strip()
            if _NUMBERISH.match(cli):
                caller = cli
            else:
                caller_name = cli
            agent = ext if answered else ""
            disposition = "answered" if answered else "abandoned"
        else:
            direction = "internal" if dial.upper().startswith("EXT") else "outbound"
            caller, agent = ext, ext
            callee = dial[3:] if direction == "internal" else dial
            dialled = "" if direction == "internal" else dial
            disposition = "answered" if answered else "no_answer"
        return CallRecord(
            key=_smdr_key(self.site_id, info.name, rec.raw, rec, ended if timed else None),
            site_id=self.site_id, source=info.name,
            source_kind=info.kind, direction=direction, caller=caller, callee=callee, dialled_number=dialled,
            queue=info.queue, agent=agent, started_at=iso_utc(started),
            answered_at=iso_utc(started + timedelta(seconds=ring)) if answered else "", ended_at=iso_utc(ended),
            ring_s=ring, talk_s=duration, hold_s=0, disposition=disposition, caller_name=caller_name,
            raw=rec.raw.decode("latin-1"))

    def _panasonic_end(self, info: DeviceInfo, rec: PanasonicSmdrRecord, now: datetime) -> tuple[datetime, bool]:
        """(end time, True) from the record; (arrival time, False) when its time cannot be read."""
        to_datetime = info.to_datetime or _default_panasonic_clock()
        if to_datetime is not None:
            try:
                return local_to_utc(to_datetime(rec), info.tz), True
            except ValueError:
                pass
        self.clock_fallbacks += 1
        return now, False


_PANASONIC_CLOCK: list = []


def _default_panasonic_clock() -> Callable[[PanasonicSmdrRecord], datetime] | None:
    """firmware_bridge.smdr.panasonic.panasonic_end_time with default options, when it exists."""
    if not _PANASONIC_CLOCK:
        try:
            from firmware_bridge.smdr.panasonic import PanasonicOptions, panasonic_end_time
            options = PanasonicOptions()
            _PANASONIC_CLOCK.append(lambda rec: panasonic_end_time(rec, options))
        except (ImportError, TypeError):
            _PANASONIC_CLOCK.append(None)
    return _PANASONIC_CLOCK[0]

