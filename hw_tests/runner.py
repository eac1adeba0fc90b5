"""Run checks in parallel worker threads, each under its own deadline, the whole run under a cap."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .result import CheckResult, Status

log = logging.getLogger("hw_tests.runner")

RUN_BUDGET_S = 25.0           # the checks; saving and reporting get the rest of the 30 s


@dataclass(frozen=True)
class Check:
    """A named check. `run` returns its CheckResult; the runner renames and times it.

    `timeout_hint` is what the technician reads when the check overruns `timeout_s`.
    """
    name: str
    run: Callable[[], CheckResult]
    timeout_s: float
    timeout_hint: str = "run the self-test again; if it hangs again, note which check and call support"


class _Slot:
    def __init__(self, check: Check):
        self.check = check
        self.result: CheckResult | None = None
        self.done = threading.Event()
        self.started = time.monotonic()

    def __call__(self) -> None:
        try:
            result = self.check.run()
            if not isinstance(result, CheckResult):
                raise TypeError(f"check returned {type(result).__name__}, not CheckResult")
        except Exception as exc:          # a broken check must not take the run down
            log.exception("self-test check %s crashed", self.check.name)
            result = CheckResult(self.check.name, Status.FAIL,
                                 f"the check itself crashed: {type(exc).__name__}: {exc}",
                                 "this is a bug in the self-test, not the hardware: send the "
                                 "output of `appliance selftest --json` to support")
        self.result = result.renamed(self.check.name).timed((time.monotonic() - self.started) * 1000)
        self.done.set()


def run_checks(checks: Sequence[Check], *, budget_s: float = RUN_BUDGET_S) -> list[CheckResult]:
    """Run every check at once, one daemon thread each; results come back in `checks` order.

    A check still running at its deadline (its own timeout, or the run's budget, whichever comes
    first) is reported FAIL "timed out"; its thread is left to finish on its own and its late
    answer is ignored, so a wedged device cannot hold the run past `budget_s`.
    """
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate check names: {sorted(n for n in set(names) if names.count(n) > 1)}")
    run_deadline = time.monotonic() + budget_s
    slots = []
    for check in checks:
        slot = _Slot(check)
        threading.Thread(target=slot, name=f"selftest-{check.name}", daemon=True).start()
        slots.append(slot)
    results = []
    for slot in slots:
        deadline = min(slot.started + slot.check.timeout_s, run_deadline)
        if slot.done.wait(max(0.0, deadline - time.monotonic())):
            results.append(slot.result)
            continue
        waited = time.monotonic() - slot.started
        results.append(CheckResult(slot.check.name, Status.FAIL, f"timed out after {waited:.1f} s",
                                   slot.check.timeout_hint, int(waited * 1000)))
    return results
