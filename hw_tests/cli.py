"""`appliance selftest`: run the checks, show them, save them in the store and report them centrally."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from datetime import datetime, timezone

from appliance.config import DEFAULT_CONFIG_PATH, ConfigError, load_config

from .plan import Environment, UnknownCheck, all_checks, select_checks
from .render import RunSummary, print_json, print_table
from .report import ReportOutcome, build_report, send_report
from .result import Status, verdict
from .runner import RUN_BUDGET_S, run_checks

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
COMMAND_BUDGET_S = 30.0          # checks, saving and reporting together


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="appliance selftest",
        description="Check the appliance's hardware, storage and central link; say what to fix. "
                    "Exit 0: nothing failed (warnings allowed); 1: something failed; 2: config error.")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, metavar="FILE",
                   help=f"configuration file (default {DEFAULT_CONFIG_PATH})")
    p.add_argument("--json", action="store_true", help="print JSON (results and verdict) instead of a table")
    p.add_argument("--only", nargs="+", action="extend", default=[], metavar="NAME",
                   help="run only these checks: config data_dir store clock system loopback, "
                        "central:<endpoint> or device:<name>; 'central' / 'device' select all of a kind")
    p.add_argument("--loopback", metavar="PORT",
                   help="also test PORT with a TX-RX loopback plug fitted (pins 2-3 on DB9)")
    p.add_argument("--no-report", action="store_true", help="do not send the result to the central")
    return p


def _save(cfg, run: RunSummary) -> str:
    """Keep the run in the local store; returns a warning line, or "" when saved. Like every command
    that writes, through the running daemon (its store writer), else as the data dir's owner; never
    creates the data dir or the database (a mistyped data_dir stays visible as the store check's FAIL)."""
    from appliance.store_commands import write
    try:
        reply, _ = write(cfg, "selftest.save", {"run_id": run.run_id, "started_at": run.started_at,
                                                "verdict": run.verdict.value,
                                                "report_json": json.dumps(run.to_dict(), ensure_ascii=False)})
    except Exception as exc:              # the result is still printed and reported
        return f"WARN: result not saved in the store ({cfg.site.data_dir}): {type(exc).__name__}: {exc}"
    if "error" in reply:
        return f"WARN: result not saved: {reply['error']}"
    return ""


def _deliver(cfg, run: RunSummary, no_report: bool, budget_s: float) -> ReportOutcome:
    if no_report:
        return ReportOutcome(False, "", "not reported (--no-report)")
    if not cfg.central.endpoints:
        return ReportOutcome(False, "", "not reported (no central configured)")
    report = build_report(cfg.site.id, run.run_id, run.started_at, run.results, run.verdict)
    return send_report(cfg.central, report, budget_s=max(2.0, budget_s))


def selftest_main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Drivers log what they see (timeouts, refusals); the result table already says it in plain
    # words, so only errors (a crashed check's traceback) reach stderr.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if "loopback" in args.only and not args.loopback:
        print("selftest: --only loopback needs --loopback PORT", file=sys.stderr)
        return EXIT_CONFIG
    try:
        checks = select_checks(all_checks(cfg, env or Environment(), args.loopback), args.only)
    except UnknownCheck as exc:
        print(f"selftest: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    start = time.monotonic()
    results = tuple(run_checks(checks, budget_s=RUN_BUDGET_S))
    run = RunSummary(run_id=str(uuid.uuid4()), site_id=cfg.site.id, started_at=started_at,
                     duration_ms=int((time.monotonic() - start) * 1000), verdict=verdict(results),
                     results=results)

    save_problem = _save(cfg, run)
    outcome = _deliver(cfg, run, args.no_report, COMMAND_BUDGET_S - (time.monotonic() - start))
    notes = [save_problem] if save_problem else []
    if cfg.central.endpoints and not args.no_report and not outcome.sent:
        notes.append(f"WARN: {outcome.message}")
    if args.json:
        print_json(run, {"saved": not save_problem,
                         "report": {"sent": outcome.sent, "endpoint": outcome.endpoint,
                                    "message": outcome.message}})
        for note in notes:
            print(note, file=sys.stderr)
    else:
        print_table(run, notes + ([outcome.message] if outcome.sent else []))
    return EXIT_FAILED if run.verdict is Status.FAIL else EXIT_OK
