"""Show a self-test run: a rich table for the technician, or JSON for ops tooling."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Sequence, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .result import CheckResult, Status

_STYLE = {Status.PASS: "bold green", Status.WARN: "bold yellow", Status.FAIL: "bold red",
          Status.SKIP: "dim"}


@dataclass(frozen=True)
class RunSummary:
    """A finished run as saved, reported and printed."""
    run_id: str
    site_id: str
    started_at: str
    duration_ms: int
    verdict: Status
    results: tuple[CheckResult, ...]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "site_id": self.site_id, "started_at": self.started_at,
                "duration_ms": self.duration_ms, "verdict": self.verdict.value,
                "results": [r.to_dict() for r in self.results]}


def counts(results: Sequence[CheckResult]) -> str:
    parts = []
    for status, word in ((Status.FAIL, "failed"), (Status.WARN, "warning(s)"),
                         (Status.PASS, "passed"), (Status.SKIP, "skipped")):
        n = sum(r.status is status for r in results)
        if n:
            parts.append(f"{n} {word}")
    return ", ".join(parts) or "no checks"


def _unwrapped_width(run: RunSummary, notes: Sequence[str]) -> int:
    """Wide enough that no cell wraps: piped into the journal or grep, one line per check."""
    widest = [max([len(title)] + [len(cell(r)) for r in run.results]) for title, cell in (
        ("check", lambda r: r.name), ("status", lambda r: r.status.value),
        ("detail", lambda r: r.detail), ("what to do", lambda r: r.hint))]
    return max([80, sum(widest) + 3 * len(widest) + 1] + [len(n) for n in notes])


def print_table(run: RunSummary, notes: Sequence[str], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    console = Console(file=out, width=None if out.isatty() else _unwrapped_width(run, notes),
                      highlight=False)
    table = Table(show_lines=False, expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("what to do", overflow="fold")
    for r in run.results:
        table.add_row(Text(r.name), Text(r.status.value.upper(), style=_STYLE[r.status]), Text(r.detail), Text(r.hint))
    console.print(Text(f"Self-test of site {run.site_id} ({run.started_at})", style="bold"))
    console.print(table)
    console.print(Text(f"{run.verdict.value.upper()}: {counts(run.results)} in "
                       f"{run.duration_ms / 1000:.1f} s (run {run.run_id})", style=_STYLE[run.verdict]))
    for note in notes:
        console.print(Text(note, style="yellow"))


def print_json(run: RunSummary, extra: dict, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    out.write(json.dumps({**run.to_dict(), **extra}, indent=2, ensure_ascii=False) + "\n")
