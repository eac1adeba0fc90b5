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
        queues = GaugeMetricFamily("appliance_queue_calls_waiting", "Inbound calls ringing now", labels=["queue"])
        longest = GaugeMetricFamily("appliance_queue_longest_wait_seconds", "Longest current wait", labels=["queue"])
        sl = GaugeMetricFamily("appliance_queue_service_level_ratio", "Answered within the service level / offered",
                               labels=["queue"])
        for name, q in st.get("queues", {}).items():
            queues.add_metric([name], q["calls_waiting"])
            longest.add_metric([name], q["longest_wait_s"])
            if q["service_level_pct"] is not None:
                sl.add_metric([name], q["service_level_pct"] / 100.0)
        yield from (queues, longest, sl)
        yield from _process_metrics()
        yield from _system_metrics()


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
