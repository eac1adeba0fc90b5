"""Calls in progress that are being recorded, kept durably so a crash still leaves their record."""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence

from appliance.calls.record import CallRecord


class OpenCallsMixin:
    """A recorded call's record as far as it is known (caller, agent, answer) while it goes on.

    After a crash or power cut the daemon finds these rows at start and stores each call as
    interrupted, its recording truncated: the call is never lost with the process.
    """

    def save_open_call(self, record: CallRecord, now: float) -> None:
        data = json.dumps(dataclasses.asdict(record), separators=(",", ":"))
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO open_call (key, record_json, saved_at) VALUES (?, ?, ?)",
                         (record.key, data, now))

    def open_calls(self) -> list[tuple[CallRecord, float]]:
        rows = self.conn.execute("SELECT record_json, saved_at FROM open_call ORDER BY saved_at")
        return [(CallRecord.from_dict(json.loads(data)), saved_at) for data, saved_at in rows]

    def close_open_calls(self, keys: Sequence[str]) -> None:
        """The calls' final records are durable: forget what was kept for a crash."""
        if not keys:
            return
        with self.transaction() as conn:
            conn.executemany("DELETE FROM open_call WHERE key = ?", ((k,) for k in keys))
