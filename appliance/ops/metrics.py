"""Prometheus metrics, read from the daemon's status() at scrape time (nothing is counted twice)."""
from __future__ import annotations

import logging
from typing import Callable

import psutil
from prometheus_client import CollectorRegistry, PlatformCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from appliance.common.hostport import split_hostport

log = logging.getLogger("appliance.metrics")


class StatusCollector:
    """Turns one status() snapshot into metric families on every scrape."""

    def __init__(self, status: Callable[[], dict]):
        self._status = status

    def collect(self):
        st = self._status()
        up = GaugeMetricFamily("appliance_device_up", "1 when the device is open and working", labels=["device", "kind"])
        events = CounterMetricFamily("appliance_device_events", "Events read from the device", labels=["device"])
        errors = CounterMetricFamily("appliance_device_parse_errors", "Unparseable inputs (kept in rejected_raw)",
                                     labels=["device"])
        reconnects = CounterMetricFamily("appliance_device_reconnects", "Times the device went away", labels=["device"])
        for d in st.get("devices", []):
            up.add_metric([d["name"], d["kind"]], 1.0 if d["state"] == "UP" else 0.0)
            events.add_metric([d["name"]], d["events"])
            errors.add_metric([d["name"]], d["errors"])
            reconnects.add_metric([d["name"]], d["reconnects"])
        yield from (up, events, errors, reconnects)
        yield CounterMetricFamily("appliance_records_stored", "Call records made durable in the store",
                                  value=st.get("records_durable", 0))
        yield GaugeMetricFamily("appliance_calls_in_progress", "Calls in progress on the lines",
                                value=st.get("calls_in_progress") or 0)
        yield GaugeMetricFamily("appliance_store_queue", "Records waiting for the store writer",
                                value=st.get("store_queue", 0))
        yield from _store_metrics(st)
        central = st.get("central")
        if central:
            yield GaugeMetricFamily("appliance_backlog_records", "Records not yet acknowledged by the central",
                                    value=central.get("backlog") or 0)
            age = central.get("oldest_unsent_age_s")
            yield GaugeMetricFamily("appliance_oldest_unsent_age_seconds", "Age of the oldest unsent record",
                                    value=age or 0)
            yield CounterMetricFamily("appliance_sync_acked_records", "Records acknowledged by the central",
                                      value=central.get("acked_total") or 0)
            yield CounterMetricFamily("appliance_sync_rejected_records", "Records the central rejected (dead letter)",
                                      value=central.get("rejected_total") or 0)
            yield CounterMetricFamily("appliance_sync_failovers",
                                      "Moves of delivery to another central because one failed",
                                      value=central.get("failovers") or 0)
            # One series per configured endpoint: 1 for the one a session is established with, 0
            # for the others, so "no central connected" reads as every series at 0.
            active = GaugeMetricFamily("appliance_central_active",
                                       "1 for the central a session is established with, else 0",
                                       labels=["endpoint"])
            connected = central.get("active_endpoint")
            for endpoint in central.get("endpoints") or ([connected] if connected else []):
                active.add_metric([endpoint], 1.0 if endpoint == connected else 0.0)
            yield active
        yield from _upload_metrics(st.get("uploads"))
        yield from _queue_metrics(st.get("stats", {}))
        yield from _floor_metrics(st)
        yield from _process_metrics()
        yield from _system_metrics()


def _store_metrics(st: dict):
    """Degraded store, held input, ballast and salvage reports not yet acknowledged."""
    store = st.get("store") or {}
    yield GaugeMetricFamily("appliance_store_degraded", "1 while the store is unusable (disk full, I/O, locked)",
                            value=1.0 if store.get("state") == "degraded" else 0.0)
    yield GaugeMetricFamily("appliance_input_held", "1 while device input is paused",
                            value=1.0 if st.get("input_held") else 0.0)
    yield CounterMetricFamily("appliance_input_pauses", "Times device input was paused",
                              value=st.get("input_pauses") or 0)
    ballast = store.get("ballast") or {}
    yield GaugeMetricFamily("appliance_store_ballast_bytes", "Space held in reserve in the data dir now",
                            value=float(ballast.get("bytes") or 0) if ballast.get("present") else 0.0)
    reports = store.get("salvage") or []
    yield GaugeMetricFamily("appliance_salvage_unacknowledged", "Salvage reports not yet acknowledged",
                            value=len(reports))
    yield GaugeMetricFamily("appliance_salvage_recovered_records", "Records recovered (unacknowledged reports)",
                            value=sum(r.get("records_recovered") or 0 for r in reports))
    yield GaugeMetricFamily("appliance_salvage_lost_records", "Records not recovered (unacknowledged reports)",
                            value=sum(r.get("records_lost") or 0 for r in reports))


def _upload_metrics(uploads: dict | None):
    """Recording uploads: what is left, what went, and the alarms (refused or missing segments)."""
    if not uploads:
        return
    yield GaugeMetricFamily("appliance_recordings_backlog_segments", "Recording segments not yet uploaded",
                            value=uploads.get("backlog_segments") or 0)
    yield GaugeMetricFamily("appliance_recordings_backlog_bytes", "Bytes of recordings not yet uploaded",
                            value=uploads.get("backlog_bytes") or 0)
    yield GaugeMetricFamily("appliance_recordings_oldest_not_uploaded_seconds", "Age of the oldest one",
                            value=uploads.get("oldest_not_uploaded_age_s") or 0)
    yield CounterMetricFamily("appliance_recordings_uploaded_bytes", "Recording bytes the central acknowledged",
                              value=uploads.get("uploaded_bytes_total") or 0)
    yield GaugeMetricFamily("appliance_recordings_rejected", "Segments the central refused (kept, not retried)",
                            value=uploads.get("rejected") or 0)
    yield GaugeMetricFamily("appliance_recordings_missing", "Segments whose file is gone before the upload",
                            value=uploads.get("missing") or 0)


def _floor_metrics(st: dict):
    """Agents, live events for screen-pop, and call recordings."""
    agent = GaugeMetricFamily("appliance_agent_state", "1 for the state each agent is in", labels=["agent", "state"])
    for a in st.get("agents", []):
        agent.add_metric([a["name"], a["state"]], 1.0)
    yield agent
    live = st.get("live_events")
    if live:
        yield CounterMetricFamily("appliance_live_events_sent", "Live events sent to the central", value=live["sent"])
        yield CounterMetricFamily("appliance_live_events_dropped", "Live events dropped (queue full while connected)",
                                  value=live["dropped"])
        if live.get("ack_latency_p99_ms") is not None:
            yield GaugeMetricFamily("appliance_live_event_ack_p99_seconds", "p99 time from event to the central's ack",
                                    value=live["ack_latency_p99_ms"] / 1000.0)
    audio = st.get("audio")
    if audio:
        rec = CounterMetricFamily("appliance_recordings", "Recordings by outcome", labels=["status"])
        for status in ("recorded", "truncated", "not_recorded"):
            rec.add_metric([status], audio.get(status, 0))
        yield rec
        alarm = GaugeMetricFamily("appliance_recording_alarm", "1 while a recording alarm is raised", labels=["kind"])
        for kind in audio.get("alarms", {}):
            alarm.add_metric([kind], 1.0)
        yield alarm
        yield GaugeMetricFamily("appliance_calls_recording", "Calls being bridged and recorded now",
                                value=len(audio.get("calls", {})))


def _queue_metrics(stats: dict):
    """Per queue: live figures (only where they exist), today's period figures, alerts raised."""
    waiting = GaugeMetricFamily("appliance_queue_calls_waiting", "Callers waiting now", labels=["queue"])
    longest = GaugeMetricFamily("appliance_queue_longest_wait_seconds", "Longest current wait", labels=["queue"])
    agents = GaugeMetricFamily("appliance_queue_agents", "Agents of the queue by state", labels=["queue", "state"])
    offered = GaugeMetricFamily("appliance_queue_offered_today", "Calls offered since the site's midnight",
                                labels=["queue"])
    sl = GaugeMetricFamily("appliance_queue_service_level_ratio",
                           "Answered within the service level / offered, today (docs/queue-stats.md)", labels=["queue"])
    alert = GaugeMetricFamily("appliance_queue_alert", "1 while a KPI alert is raised", labels=["queue", "kpi"])
    for name, q in stats.get("queues", {}).items():
        live, today = q["live"], q["today"]
        if live["live_available"]:
            waiting.add_metric([name], live["waiting"] or 0)
            longest.add_metric([name], live["longest_wait_now_s"] or 0)
            for state in ("available", "ringing", "on_call", "wrap_up", "paused", "logged_out"):
                agents.add_metric([name, state], live[f"agents_{state}"] or 0)
        offered.add_metric([name], today["offered"])
        if today["service_level_pct"] is not None:
            sl.add_metric([name], today["service_level_pct"] / 100.0)
    for a in stats.get("alerts", []):
        alert.add_metric([a["queue"], a["kpi"]], 1.0)
    yield from (waiting, longest, agents, offered, sl, alert)
    yield CounterMetricFamily("appliance_alerts_raised", "KPI alerts raised", value=stats.get("alerts_raised", 0))


_PROC = psutil.Process()


def _process_metrics():
    """Our own process, from /proc/self only (works under the unit's ProcSubset=pid)."""
    with _PROC.oneshot():
        mem = _PROC.memory_info()
        cpu = _PROC.cpu_times()
        yield GaugeMetricFamily("appliance_process_resident_memory_bytes", "Daemon RSS", value=mem.rss)
        yield CounterMetricFamily("appliance_process_cpu_seconds", "Daemon CPU time", value=cpu.user + cpu.system)
        yield GaugeMetricFamily("appliance_process_threads", "Daemon threads", value=_PROC.num_threads())
        yield GaugeMetricFamily("appliance_process_open_fds", "Daemon open file descriptors", value=_PROC.num_fds())


def _system_metrics():
    """Whole-box figures where /proc allows it (hidden under ProcSubset=pid: then simply absent)."""
    try:
        mem = psutil.virtual_memory().percent
        load = psutil.getloadavg()[0]
        cpu = psutil.cpu_percent(None)
    except (OSError, RuntimeError):
        return
    yield GaugeMetricFamily("appliance_system_cpu_percent", "System CPU use", value=cpu)
    yield GaugeMetricFamily("appliance_system_memory_percent", "System memory use", value=mem)
    yield GaugeMetricFamily("appliance_system_load1", "1-minute load average", value=load)


def start_metrics(listen: str, status: Callable[[], dict]):
    """Serve /metrics on `listen` ("HOST:PORT", port 0 picks one). Returns (server, thread)."""
    host, port = split_hostport(listen, port_zero=True)
    registry = CollectorRegistry()
    PlatformCollector(registry=registry)
    registry.register(StatusCollector(status))
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server, thread
