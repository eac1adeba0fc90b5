"""`appliance outbox ...` and `appliance store ...`: reads that create nothing; writes through the running
daemon's control socket or, with none running, as the data dir's owner under its lock."""
from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_FAILED = 1
SALVAGE_TIMEOUT_S = 3600.0


def _reading(cfg):
    """The store opened read-only: no file is created, whoever runs the command."""
    from appliance.store import Store
    return Store(cfg.site.data_dir, site_id=cfg.site.id, read_only=True)


def _fail(command: str, text: str) -> int:
    print(f"appliance {command}: {text}", file=sys.stderr)
    return EXIT_FAILED


def write(cfg, command: str, args: dict, timeout: float = 30.0) -> tuple[dict, str]:
    """(reply, who did it): the daemon when it answers, else this command as the data dir's owner."""
    from appliance.ops.control import DaemonNotRunning, request
    try:
        return request(cfg.control_socket, command, timeout=timeout, args=args), "the running daemon"
    except DaemonNotRunning as exc:
        not_running = str(exc)
    return _write_as_owner(cfg, command, args, not_running), "this command (no daemon running)"


def _write_as_owner(cfg, command: str, args: dict, not_running: str) -> dict:
    from appliance.store import DB_NAME, NoDatabase, Store, StoreError
    from appliance.store.access import as_owner
    from appliance.store.lock import DataDirBusy, DataDirLock
    from appliance.store.operations import WRITES
    data_dir = Path(cfg.site.data_dir)
    with as_owner(data_dir):
        if not (data_dir / DB_NAME).is_file():
            return {"error": str(NoDatabase(data_dir / DB_NAME))}
        try:
            with DataDirLock(data_dir):
                with Store(data_dir, site_id=cfg.site.id, check=False, create=False) as store:
                    return WRITES[command](store, **args)
        except DataDirBusy as exc:
            return {"error": f"the daemon (pid {exc.pid or '?'}) holds {data_dir} but its control socket "
                             f"did not answer ({not_running})"}
        except (StoreError, OSError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}


# ---- outbox ---------------------------------------------------------------------------------

def cmd_outbox_stats(args) -> int:
    from appliance.store import StoreError
    cfg = args.load(args)
    try:
        with _reading(cfg) as store:
            stats = store.stats()
            reports = store.salvage_reports()
    except StoreError as exc:
        return _fail("outbox stats", str(exc))
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    for k, v in stats.items():
        print(f"{k:>22}: {v}")
    _print_reports(reports)
    return 0


def cmd_outbox_export(args) -> int:
    from appliance.store import StoreError
    cfg = args.load(args)
    try:
        with _reading(cfg) as store:
            for row in store.export(args.what):
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    except StoreError as exc:       # a closed pipe (`| head`) is appliance.cli's to end quietly
        return _fail("outbox export", str(exc))
    return 0


def cmd_outbox_replay(args) -> int:
    if not args.rejected:
        return _fail("outbox replay", "nothing to do: pass --rejected to re-queue dead-lettered records")
    reply, who = write(args.load(args), "outbox.replay", {})
    if "error" in reply:
        return _fail("outbox replay", reply["error"])
    print(f"{reply['replayed']} dead-lettered record(s) moved back to the outbox by {who}; "
          f"the daemon sends them")
    return 0


def cmd_recording_reoffer(args) -> int:
    """Offer refused or missing recording segments again, once the cause is fixed."""
    from appliance.config import ConfigError, load_config
    if not args.call and not args.all:
        return _fail("recording reoffer", "nothing to do: pass --call KEY (repeatable) or --all")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    reply, who = write(cfg, "uploads.reoffer", {"keys": None if args.all else list(args.call)})
    if "error" in reply:
        return _fail("recording reoffer", reply["error"])
    print(f"{reply['reoffered']} refused or missing segment(s) offered to the central again by {who}")
    for key in reply["unknown"]:
        print(f"  {key}: no refused or missing segment for this call", file=sys.stderr)
    return EXIT_FAILED if reply["unknown"] else 0


# ---- store ----------------------------------------------------------------------------------

def cmd_store_salvage(args) -> int:
    reply, who = write(args.load(args), "store.salvage", {"file": str(Path(args.file).resolve())},
                        timeout=SALVAGE_TIMEOUT_S)
    if "error" in reply:
        return _fail("store salvage", reply["error"])
    from appliance.store.salvage import describe
    print(f"salvaged by {who}: {describe(reply)}")
    print("the records are re-queued for the central; `appliance store acknowledge` clears the warning")
    return 0


def cmd_store_acknowledge(args) -> int:
    reply, who = write(args.load(args), "store.acknowledge", {"ids": args.id or None})
    if "error" in reply:
        return _fail("store acknowledge", reply["error"])
    print(f"{reply['acknowledged']} salvage report(s) acknowledged by {who}")
    return 0


def cmd_store_reports(args) -> int:
    from appliance.store import StoreError
    cfg = args.load(args)
    try:
        with _reading(cfg) as store:
            reports = store.salvage_reports(unacknowledged_only=not args.all)
    except StoreError as exc:
        return _fail("store reports", str(exc))
    if args.json:
        print(json.dumps(reports, indent=2))
    elif not reports:
        print("no salvage reports" + ("" if args.all else " waiting to be acknowledged"))
    else:
        _print_reports(reports)
    return 0


def _print_reports(reports: list[dict]) -> None:
    from appliance.store.salvage import describe
    for r in reports:
        acked = f", acknowledged {r['acknowledged_at']}" if r.get("acknowledged_at") else ""
        print(f"salvage #{r['id']} ({r['outcome']}, {r['salvaged_at']}{acked}): {describe(r)}")


def add_parsers(sub, add_config, load) -> None:
    """The `outbox` and `store` subcommands; `load(args)` reads the configuration."""
    def leaf(parent, name: str, text: str, func):
        p = parent.add_parser(name, help=text)
        add_config(p)
        p.set_defaults(func=func, load=load)
        return p

    p = sub.add_parser("outbox", help="inspect the local record store")
    osub = p.add_subparsers(dest="outbox_command", required=True)
    leaf(osub, "stats", "counts, oldest unsent age, rejected raw records", cmd_outbox_stats) \
        .add_argument("--json", action="store_true")
    o = leaf(osub, "export", "dump records as JSON lines", cmd_outbox_export)
    o.add_argument("--format", choices=["jsonl"], default="jsonl")
    o.add_argument("--what", choices=["cdr", "outbox", "dead_letter", "rejected_raw"], default="cdr")
    leaf(osub, "replay", "re-send dead-lettered records after fixing the cause", cmd_outbox_replay) \
        .add_argument("--rejected", action="store_true", help="re-queue every dead-lettered record")

    p = sub.add_parser("store", help="salvage a damaged database; acknowledge what salvage reported")
    ssub = p.add_subparsers(dest="store_command", required=True)
    leaf(ssub, "salvage", "recover every readable record of a damaged database file and re-queue them",
         cmd_store_salvage).add_argument("file", help="the damaged file (e.g. DATA_DIR/appliance.db.corrupt-...)")
    leaf(ssub, "acknowledge", "clear salvage warnings from status, metrics and the self-test",
         cmd_store_acknowledge).add_argument("--id", type=int, action="append",
                                             help="only this report (repeatable; default: all)")
    r = leaf(ssub, "reports", "what each salvage recovered and lost", cmd_store_reports)
    r.add_argument("--all", action="store_true", help="acknowledged ones too")
    r.add_argument("--json", action="store_true")
