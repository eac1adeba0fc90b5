"""What the running daemon says about itself: `appliance status`, metrics, systemd's STATUS= line."""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("appliance.daemon")


def site_status(d) -> dict:
    """Every component's state as plain values, read on the loop (the control socket, metrics, demo)."""
    now = d._clock()
    devices = []
    runners = list(d.runners.values())
    if d.floor.agents is not None:
        runners += list(d.floor.agents.runners.values())
    if d.floor.wallboards is not None:
        runners += d.floor.wallboards.runners
    for runner in runners:
        item = runner.state.as_dict(now)
        peers = runner.driver.status().get("peers")
        if peers is not None:
            item["connections"] = len(peers)
        devices.append(item)
    out = {
        "site_id": d.site_id,
        "uptime_s": round(now - d.started_at, 1),
        "devices": devices,
        "calls_in_progress": d.tracker.in_progress(),
        "calls_finished": d.ingest.calls_finished if d.ingest else 0,
        "records_durable": d.records_durable,
        "protocol_errors": d.ingest.protocol_errors if d.ingest else 0,
        "store_queue": d.writer.queue_depth if d.writer else 0,
        "store_healthy": d.writer.healthy if d.writer else None,
        "input_pauses": d.gate.pauses,
        "input_held": d.gate.reasons,
        "store": d.keeper.status() if d.keeper else None,
        "last_selftest": d.last_selftest,
        "tasks": d.tasks.status(),
        **d.floor.status(),
        **d.desk.status(),
    }
    if d.sync is not None:
        out["central"] = d.sync.status()
    if d.uploads is not None:
        out["uploads"] = d.uploads.status()
    out["retention"] = d.retention.status()
    return out


def status_line(st: dict, store_words: str = "") -> str:
    """One line for systemd's STATUS=: devices, records, the central, anything failed."""
    up = sum(1 for item in st["devices"] if item["state"] == "UP")
    line = f"{up}/{len(st['devices'])} devices up, {st['records_durable']} records stored"
    if store_words:
        line = f"{store_words}; {line}"
    central = st.get("central")
    if central:
        line += f", backlog {central.get('backlog')}, central {central.get('active_endpoint') or 'none'}"
    uploads = st.get("uploads")
    if uploads:
        line += f", recordings to upload {uploads.get('backlog_segments')}"
        if uploads.get("rejected") or uploads.get("missing"):
            line += f" ({uploads['rejected']} rejected, {uploads['missing']} missing)"
    failed = [name for name, state in st["tasks"].items() if state.startswith("failed")]
    if failed:
        line += f", FAILED: {', '.join(failed)}"
    return line


async def refresh_last_selftest(d) -> None:
    """Off the tick loop: a locked database must not look like a wedged event loop."""
    try:
        d.last_selftest = await asyncio.to_thread(d._with_store, _last_selftest)
    except Exception as exc:  # noqa: BLE001 - status only; the store's own health is reported elsewhere
        log.debug("last self-test unavailable: %s", exc)
    finally:
        d._selftest_reading = False


def _last_selftest(store) -> dict | None:
    runs = store.selftests(limit=1)
    if not runs:
        return None
    return {k: runs[0].get(k) for k in ("run_id", "started_at", "verdict")}
