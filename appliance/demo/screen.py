"""The demo's live screen (80x24): Ctrl-C, the failover to try and where the files are, then figures, then tables."""
from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from appliance.demo.parts import FAILBACK_AFTER_S, RESTART_AFTER_S


FILES = "config appliance.toml, logs demo.log central-*.log, PKI pki/, store data/"


def failover_command(pid_file: Path) -> str:
    return f"kill $(cat {pid_file})"


def where_files_are(workdir: Path) -> str:
    return f"Files: {workdir}\n  {FILES}"


def _hint(centrals: list) -> str:
    """Ctrl-C, and the failover to try: `kill PID` is short enough for any screen (the pid file's
    longer form is printed above the screen and in the README)."""
    hint = "[bold]Ctrl-C[/] stops the demo."
    if not centrals:
        return hint
    primary = centrals[0]
    if primary.state == "running" and primary.proc is not None:
        return hint + f"  [bold]Try a failover:[/] kill {primary.proc.pid}  (the primary central)"
    return hint + f"  Primary central {escape(primary.state)}"


def render_screen(st: dict, centrals: list, workdir: Path, running_s: float) -> Panel:
    """`st` is the daemon's status(); `centrals` the demo's Central objects (name, proc, state).

    It fits an 80x24 terminal; on a smaller one rich's Live cuts from the bottom, so the lines a
    visitor needs (Ctrl-C, the failover command, where the files are) come first and stay.
    """
    head = [_one_line(Text.from_markup(_hint(centrals)))]
    if centrals:
        head.append(_one_line(Text(f"  (restarted after {RESTART_AFTER_S:.0f} s; the daemon fails back "
                                   f"once it is healthy for {FAILBACK_AFTER_S:.0f} s)")))
    head.append(Text(where_files_are(workdir), overflow="fold"))
    lines = [f"records stored [bold]{st['records_durable']}[/]  calls finished {st['calls_finished']}  "
             f"in progress {st['calls_in_progress']}  unparseable kept {st['protocol_errors']}"]
    central = st.get("central")
    if central:
        age = central.get("oldest_unsent_age_s")
        active = central.get("active_endpoint")
        lines.append(f"central [bold]{escape(active) if active else 'none'}[/]  backlog {central.get('backlog')}  "
                     f"oldest unsent {'-' if age is None else f'{age:.0f}s'}  acked {central.get('acked_total')}")
        lines.append(f"  failovers {central.get('failovers')}  failbacks {central.get('failbacks')}  " +
                     "  ".join(f"{c.name} {c.state}" for c in centrals))
        if central.get("last_error"):
            lines.append(f"[yellow]last error: {escape(central['last_error'])}[/]")
    figures = [_one_line(Text.from_markup(line)) for line in lines]
    return Panel(Group(*head, *figures, _devices(st), _queues(st)),
                 title=f"call-centre site appliance: demo, running {running_s:.0f}s", title_align="left")


def _one_line(text: Text) -> Text:
    """A figure line never wraps: it is cut with an ellipsis, so the screen keeps its height."""
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, expand=True, header_style="bold")
    for name in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    return table


def _devices(st: dict) -> Table:
    devices = _table("device", "kind", "state", "for", "events", "errors", "last error")
    for d in st["devices"]:
        colour = "green" if d["state"] == "UP" else "red"
        devices.add_row(d["name"], d["kind"], f"[{colour}]{d['state']}[/]", f"{d['for_s']:.0f}s",
                        str(d["events"]), str(d["errors"]), escape(d["last_error"]))
    return devices


def _queues(st: dict) -> Table:
    queues = _table("queue (today)", "waiting", "longest", "free/on call", "answered", "abandoned", "SL")
    for name, q in st.get("stats", {}).get("queues", {}).items():
        live, today = q["live"], q["today"]
        sl = "-" if today["service_level_pct"] is None else f"{today['service_level_pct']:.0f}%"
        if live["live_available"]:
            waiting, longest = str(live["waiting"]), f"{live['longest_wait_now_s'] or 0:.0f}s"
            agents = f"{live['agents_available']}/{live['agents_on_call']}"
        else:                       # PBX records only: nothing is known until a call has ended
            waiting = longest = agents = "n/a"
        queues.add_row(name or "(none)", waiting, longest, agents, str(today["answered"]),
                       str(today["abandoned"]), sl)
    return queues
