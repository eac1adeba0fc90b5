"""What one self-test check found: a status, one line of detail and, when it matters, what to do."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Iterable


class Status(str, Enum):
    """Outcome of a check, mildest first; the run's verdict is the worst one seen."""
    PASS = "pass"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    """One check's answer. `hint` is a sentence a technician can act on (set for warn/fail)."""
    name: str
    status: Status
    detail: str
    hint: str = ""
    duration_ms: int = 0

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))
        # One line each: a table cell and a journal line must not break.
        object.__setattr__(self, "detail", " ".join(str(self.detail).split()))
        object.__setattr__(self, "hint", " ".join(str(self.hint).split()))

    def renamed(self, name: str) -> "CheckResult":
        return dataclasses.replace(self, name=name)

    def timed(self, duration_ms: int) -> "CheckResult":
        return dataclasses.replace(self, duration_ms=max(0, int(duration_ms)))

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status.value, "detail": self.detail,
                "hint": self.hint, "duration_ms": self.duration_ms}


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASS, detail)


def warned(name: str, detail: str, hint: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, hint)


def failed(name: str, detail: str, hint: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, hint)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)


def verdict(results: Iterable[CheckResult]) -> Status:
    """FAIL if anything failed, else WARN if anything warned, else PASS (skips do not count)."""
    worst = Status.PASS
    for result in results:
        if result.status.rank > worst.rank:
            worst = result.status
    return worst


@dataclass(frozen=True)
class Finding:
    """One observation inside a check that combines several (a modem's SIM, signal, network)."""
    status: Status
    detail: str
    hint: str = ""


def combine(name: str, findings: Iterable[Finding]) -> CheckResult:
    """One result from several findings: every detail, the worst status, the hints at that level."""
    findings = list(findings)
    worst = verdict(CheckResult(name, f.status, "") for f in findings)
    hints = [f.hint for f in findings if f.status is worst and f.hint]
    return CheckResult(name, worst, "; ".join(f.detail for f in findings if f.detail),
                       "; ".join(dict.fromkeys(hints)))
