"""Render the daemon's status for a technician (rich tables); `appliance status --json` skips this."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


class _PipeConsole(Console):
    """rich ends the process with exit 1 when the reader of a pipe leaves; hand the BrokenPipeError
    on instead, so `appliance status | head` ends like every other command (appliance.cli)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def render_status(st: dict, console: Console | None = None) -> None:
    console = console or _PipeConsole()
    console.print(f"[bold]site {st['site_id']}[/]  up {_age(st['uptime_s'])}  "
                  f"calls in progress: {st.get('calls_in_progress')}  records stored since start: "
                  f"{st['records_durable']}  unparseable input kept: {st['protocol_errors']}")
    devices = Table(title="Devices")
    for col in ("device", "kind", "port / listen", "state", "for", "last event", "errors", "last error"):
        # a narrow terminal wraps names, ports and errors rather than cutting them to "/tmp/ap…"
        devices.add_column(col, overflow="fold")
    for d in st["devices"]:
        colour = "green" if d["state"] == "UP" else "red"
        devices.add_row(d["name"], d["kind"], d["target"], f"[{colour}]{d['state']}[/]", _age(d["for_s"]),
                        _age(d["last_event_age_s"]) + (" ago" if d["last_event_age_s"] is not None else ""),
                        str(d["errors"]), escape(d["last_error"][:50]))
    console.print(devices)
    central = st.get("central")
    if central:
        active = central.get("active_endpoint")
        trying = "" if active or not central.get("trying_endpoint") else \
            f" (trying {escape(central['trying_endpoint'])})"
        console.print(f"central: [bold]{escape(active) if active else 'none'}[/]{trying}  backlog "
                      f"{central.get('backlog')}  oldest unsent {_age(central.get('oldest_unsent_age_s'))}  "
                      f"last ack {central.get('last_ack_at') or '-'}  rejected {central.get('rejected_total')}")
        if central.get("last_error"):
            console.print(f"[yellow]central last error: {escape(central['last_error'])}[/]")
    else:
        console.print("central: not configured")
    uploads = st.get("uploads")
    if uploads:
        console.print(f"recordings: {uploads.get('backlog_segments')} segment(s) to upload "
                      f"({(uploads.get('backlog_bytes') or 0) / 2**20:.1f} MiB, oldest "
                      f"{_age(uploads.get('oldest_not_uploaded_age_s'))}), {uploads.get('uploaded')} uploaded")
        if uploads.get("rejected") or uploads.get("missing"):
            console.print(f"[red]recordings: {uploads['rejected']} rejected, {uploads['missing']} missing: "
                          f"{escape(str(uploads.get('last_problem') or ''))}[/]")
            console.print("[red]  kept, not offered again; once the cause is fixed: "
                          "`appliance recording reoffer --call KEY` (or --all)[/]")
    store = st.get("store") or {}
    if store.get("state") == "degraded":
        console.print(f"[red]store DEGRADED for {_age(store.get('degraded_for_s'))}: {escape(str(store.get('problem')))}"
                      f" ({escape(str(store.get('detail'))[:120])}); device input held[/]")
        console.print(f"[red]  fix: {escape(str(store.get('fix')))}[/]")
    elif not st.get("store_healthy", True):
        console.print("[red]store: writes failing (disk full or I/O error); records are held in memory[/]")
    for report in store.get("salvage") or []:
        console.print(f"[yellow]salvage #{report['id']}: {escape(str(report.get('summary')))}[/]")
        console.print("[yellow]  details: `appliance store reports`; once seen: `appliance store acknowledge`[/]")
    selftest = st.get("last_selftest")
    if selftest:
        colour = {"pass": "green", "warn": "yellow"}.get(str(selftest.get("verdict")).lower(), "red")
        console.print(f"last self-test: [{colour}]{selftest.get('verdict')}[/] at {selftest.get('started_at')}")
    else:
        console.print("last self-test: none (run `appliance selftest`)")
