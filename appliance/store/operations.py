"""The store changes an operator may ask for: replay dead letters, salvage a file, acknowledge salvage
reports, offer refused recording segments again, keep a self-test's result.

The daemon runs them for `appliance outbox replay` / `appliance store ...` over its control socket;
with no daemon running the command runs them itself, as the data dir's owner. Each takes an open
Store and JSON-safe arguments and returns a JSON-safe reply.
"""
from __future__ import annotations

from pathlib import Path

from appliance.store.errors import StoreError
from appliance.store.salvage import salvage_into
from appliance.store.uploads import UploadLedger


def replay(store, ids: list[int] | None = None) -> dict:
    return {"replayed": store.replay_rejected(ids)}


def salvage(store, file: str) -> dict:
    path = Path(file)
    if not path.is_absolute():
        raise StoreError(f"salvage needs an absolute path, not {file!r}")
    if not path.is_file():
        raise StoreError(f"no file at {path} (or not readable by the daemon's user)")
    if path.resolve() == store.path.resolve():
        raise StoreError(f"{path} is the live database: salvage a copy, or a file moved aside")
    return salvage_into(store, path)


def acknowledge(store, ids: list[int] | None = None) -> dict:
    return {"acknowledged": store.acknowledge_salvage(ids)}


def reoffer(store, keys: list[str] | None = None) -> dict:
    count, unknown = UploadLedger(store).reoffer(keys)
    return {"reoffered": count, "unknown": unknown}


def save_selftest(store, run_id: str, started_at: str, verdict: str, report_json: str) -> dict:
    store.save_selftest(str(run_id), str(started_at), str(verdict), str(report_json))
    return {"saved": run_id}


WRITES = {"outbox.replay": replay, "store.salvage": salvage, "store.acknowledge": acknowledge,
          "uploads.reoffer": reoffer, "selftest.save": save_selftest}
