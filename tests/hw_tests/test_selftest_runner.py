"""The self-test runner: parallel checks, per-check deadlines, the run budget, crashes, the verdict."""
from __future__ import annotations

import threading

import pytest

from hw_tests.result import CheckResult, Finding, Status, combine, failed, passed, skipped, verdict, warned
from hw_tests.runner import Check, run_checks


def test_verdict_is_the_worst_status_and_skips_do_not_count():
    assert verdict([passed("a", "ok"), skipped("b", "n/a")]) is Status.PASS
    assert verdict([passed("a", "ok"), warned("b", "meh", "do x")]) is Status.WARN
    assert verdict([warned("b", "meh", "do x"), failed("c", "bad", "do y"), passed("a", "ok")]) is Status.FAIL
    assert verdict([]) is Status.PASS


def test_combine_keeps_every_detail_and_the_hints_of_the_worst_level_only():
    result = combine("device:gsm1", [Finding(Status.PASS, "SIM ready"),
                                     Finding(Status.WARN, "weak signal -105 dBm", "move the antenna"),
                                     Finding(Status.FAIL, "network registration denied", "call the operator")])
    assert result.status is Status.FAIL
    assert result.detail == "SIM ready; weak signal -105 dBm; network registration denied"
    assert result.hint == "call the operator"


def test_detail_and_hint_are_single_lines():
    result = CheckResult("x", "warn", "line one\nline two", "do\n  this")
    assert result.detail == "line one line two" and result.hint == "do this"
    assert result.status is Status.WARN


def test_checks_run_in_parallel():
    # Each check waits for the other at a barrier: run one after the other, both would time out.
    barrier = threading.Barrier(2, timeout=5)

    def meet(name):
        barrier.wait()
        return passed(name, "met")

    results = run_checks([Check("a", lambda: meet("a"), 10), Check("b", lambda: meet("b"), 10)])
    assert [(r.name, r.status) for r in results] == [("a", Status.PASS), ("b", Status.PASS)]


def test_an_overrunning_check_fails_with_its_hint_and_does_not_hold_the_others():
    release = threading.Event()

    def wedged():
        release.wait(10)
        return passed("wedged", "late answer")

    try:
        results = run_checks([Check("wedged", wedged, 0.2, timeout_hint="replug the modem"),
                              Check("quick", lambda: passed("quick", "fine"), 5)])
    finally:
        release.set()
    wedged_result, quick = results
    assert wedged_result.status is Status.FAIL
    assert wedged_result.detail.startswith("timed out after")
    assert wedged_result.hint == "replug the modem"
    assert quick.status is Status.PASS and quick.detail == "fine"


def test_the_run_budget_caps_every_check():
    release = threading.Event()
    try:
        results = run_checks([Check("slow", lambda: release.wait(10) and passed("slow", "x"), 10)],
                             budget_s=0.2)
    finally:
        release.set()
    assert results[0].status is Status.FAIL and "timed out" in results[0].detail
    assert results[0].duration_ms < 10_000


def test_a_crashing_check_is_a_failure_naming_the_error_not_a_crash_of_the_run():
    def broken():
        raise KeyError("imei")

    results = run_checks([Check("device:gsm1", broken, 5), Check("clock", lambda: passed("x", "ok"), 5)])
    assert results[0].status is Status.FAIL and "KeyError" in results[0].detail
    assert "bug in the self-test" in results[0].hint
    # The runner names results after their check, whatever the function called them.
    assert results[1].name == "clock" and results[1].status is Status.PASS


def test_results_come_back_in_check_order_with_durations():
    gate = threading.Event()

    def first():
        gate.wait(5)
        return passed("first", "waited for second")

    def second():
        gate.set()
        return passed("second", "ran")

    results = run_checks([Check("first", first, 5), Check("second", second, 5)])
    assert [r.name for r in results] == ["first", "second"]
    assert all(r.duration_ms >= 0 for r in results)


def test_duplicate_check_names_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        run_checks([Check("a", lambda: passed("a", ""), 1), Check("a", lambda: passed("a", ""), 1)])
