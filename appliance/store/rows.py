"""Call records <-> rows of the cdr table: the column lists, nested parts as JSON text, export shapes."""
from __future__ import annotations

import dataclasses
import functools
import json
from datetime import datetime, timezone
from operator import attrgetter
from typing import Callable, Optional, Sequence

from appliance.calls.record import FIELD_NAMES, CallRecord, recording_from_dict

CDR_COLS = ", ".join(FIELD_NAMES)
INSERT_CDR = (f"INSERT OR IGNORE INTO cdr ({CDR_COLS}, stored_at) "
              f"VALUES ({', '.join('?' * (len(FIELD_NAMES) + 1))})")
ROWS_PER_INSERT = 256       # rows per multi-row INSERT: 33 values each at most, well under SQLite's 32,766


# The columns migration 4 added with a DEFAULT (agents, recordings), and what a record holds when
# it has none of that: such a record's row leaves them out and SQLite fills in the same values.
_EXTRA = FIELD_NAMES[FIELD_NAMES.index("headset"):]
_NO_EXTRA = ("", 0, (), 0.0, 0, False, False, None)
_PLAIN = FIELD_NAMES[:len(FIELD_NAMES) - len(_EXTRA)]     # key .. recording_ref
assert _EXTRA == ("headset", "agent_ring_s", "mute_intervals", "muted_s", "wrap_up_s", "headset_lost",
                  "interrupted", "recording")


@functools.lru_cache(maxsize=64)
def insert_cdr_rows(n: int, width: int) -> str:
    """INSERT OR IGNORE of n cdr rows of `width` values each (`cdr_row`'s widths) in one statement.

    One statement is one sqlite3_step: Python's sqlite3 releases the GIL around every step, so a
    row-by-row executemany hands the GIL to the event loop thread once per row and then waits up
    to a switch interval (5 ms) to get it back; this waits once per n rows."""
    cols, extra = _COLUMNS[width]
    one = f"({', '.join('?' * width)})"
    return f"INSERT OR IGNORE INTO cdr ({', '.join(cols)}, {extra}) VALUES {', '.join([one] * n)}"


_COLUMNS = {len(_PLAIN) + 1: (_PLAIN, "stored_at"), len(_PLAIN) + 2: (_PLAIN, "stored_at, payload"),
            len(FIELD_NAMES) + 1: (FIELD_NAMES, "stored_at"), len(FIELD_NAMES) + 2: (FIELD_NAMES, "stored_at, payload")}
_HEAD = attrgetter(*_PLAIN[:_PLAIN.index("final_leg")])
_TAIL = attrgetter(*_PLAIN[_PLAIN.index("final_leg") + 1:])
_EXTRAS = attrgetter(*_EXTRA)


def cdr_row(r: CallRecord, stored_at: float, serialize: Serialize | None) -> tuple:
    """The values of a record's row, stored_at and (with `serialize`) the payload, for insert_cdr_rows
    (the width of the tuple says which columns). Cheap to bind: no bool and no bytes (Python's sqlite3
    binds those through its adapter look-up, ten times the cost of an int), no agent and recording
    columns when the record has none."""
    payload = () if serialize is None else (_blob(serialize(r)),)
    if _EXTRAS(r) == _NO_EXTRA:
        return (*_HEAD(r), 1 if r.final_leg else 0, *_TAIL(r), stored_at, *payload)
    return (*row_values(r), stored_at, *payload)


def _blob(data: bytes | None) -> bytearray | None:
    return None if data is None else bytearray(data)


SELECT_CDR = f"SELECT cdr.id, {', '.join('cdr.' + f for f in FIELD_NAMES)}, cdr.stored_at"
# A record's wire bytes (appliance.v1.CallRecord), or None when it cannot be encoded. Injected by
# the daemon from appliance.sync.convert: the store itself never imports protobuf.
Serialize = Callable[[CallRecord], Optional[bytes]]
_FIELDS = attrgetter(*FIELD_NAMES)
_BOOLS = tuple(FIELD_NAMES.index(f) for f in ("final_leg", "headset_lost", "interrupted"))
_MUTES = FIELD_NAMES.index("mute_intervals")
_RECORDING = FIELD_NAMES.index("recording")


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_values(r: CallRecord) -> tuple:
    """A record as the cdr table's column values: nested parts as JSON text ("" when empty)."""
    values = _FIELDS(r)
    mutes, rec = values[_MUTES], values[_RECORDING]
    if not mutes and rec is None:            # the common case (every SMDR leg): no copy
        return values[:_MUTES] + ("",) + values[_MUTES + 1:_RECORDING] + ("",) + values[_RECORDING + 1:]
    values = list(values)
    values[_MUTES] = json.dumps(mutes) if mutes else ""
    values[_RECORDING] = json.dumps(dataclasses.asdict(rec), separators=(",", ":")) if rec else ""
    return tuple(values)


def record_from_row(row: Sequence) -> CallRecord:
    """(id, *FIELD_NAMES columns, ...) -> CallRecord; raises on values a record cannot hold."""
    values = list(row[1:1 + len(FIELD_NAMES)])
    for i in _BOOLS:
        values[i] = bool(values[i])
    mutes = values[_MUTES]
    values[_MUTES] = tuple((float(a), float(b)) for a, b in json.loads(mutes)) if mutes else ()
    rec = values[_RECORDING]
    values[_RECORDING] = recording_from_dict(json.loads(rec)) if rec else None
    return CallRecord(*values)


def cdr_dict(row: Sequence) -> dict:
    out = {"id": row[0]}
    out.update(record_from_row(row).to_dict())
    out["stored_at"] = iso(row[1 + len(FIELD_NAMES)])
    return out
