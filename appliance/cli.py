"""The `appliance` command: run, demo, status, config, outbox, store, central, pki."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from appliance.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, masked_dict, to_toml

EXIT_CONFIG = 2
EXIT_CLOSED_PIPE = 141          # 128 + SIGPIPE: what `cat` says when `| head` stops reading


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, metavar="FILE",
                   help=f"configuration file (default {DEFAULT_CONFIG_PATH})")


def _load(args):
    try:
        return load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def cmd_run(args) -> int:
    from appliance.daemon import Daemon
    from appliance.ops.logsetup import setup_logging
    from appliance.store.store import StoreError
    from appliance.ops.notify import Notifier, listen_fds
    stored = listen_fds()          # what systemd's fd store kept for us; first, before anything else
    cfg = _load(args)
    setup_logging(cfg.log.level)
    notifier = Notifier()
    try:
        asyncio.run(Daemon(cfg, notifier=notifier, stored_fds=stored).run())
    except (OSError, StoreError) as exc:
        # Cannot start at all (data dir not writable, disk gone): one clear line, not a traceback.
        print(f"appliance: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args) -> int:
    from appliance.demo import run_demo
    return run_demo(args)


def cmd_config_check(args) -> int:
    path = args.file or args.config
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if _credential_problems(path, cfg):
        return EXIT_CONFIG
    print(f"{path}: OK (site {cfg.site.id}, {cfg.describe_devices()}, "
          f"{len(cfg.central.endpoints)} central endpoint(s))")
    return 0


def _credential_problems(path: str, cfg) -> bool:
    """Print what is wrong with [central]'s key and certificate, with the fix; True if any is fatal."""
    central = cfg.central
    if not central.endpoints or central.plaintext:
        return False
    from datetime import datetime, timezone
    from appliance.ops.credentials import check_client_credentials
    report = check_client_credentials(ca_file=central.ca_file, cert_file=central.cert_file,
                                      key_file=central.key_file, site_id=cfg.site.id,
                                      now=datetime.now(timezone.utc))
    for problem in report.problems:
        label = "config error" if problem.fatal else "warning"
        print(f"{label}: {path}: [central] {problem.message}\n  fix: {problem.fix}", file=sys.stderr)
    return bool(report.fatal)


def cmd_config_show(args) -> int:
    cfg = _load(args)
    print(f"# effective configuration from {cfg.source_path} (secrets masked)")
    print(to_toml(masked_dict(cfg)), end="")
    return 0


def cmd_status(args) -> int:
    from appliance.ops.control import DaemonNotRunning, request
    cfg = _load(args)
    try:
        st = request(cfg.control_socket)
    except DaemonNotRunning as exc:
        print(f"appliance status: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    from appliance.ops.status_view import render_status
    render_status(st)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Call-centre site appliance")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the daemon in the foreground (what systemd starts)")
    _add_config(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="run the daemon with emulated devices and local centrals")
    p.add_argument("--dir", help="data directory for the demo (default: a new temporary directory)")
    p.add_argument("--calls-per-minute", type=float, default=60.0, help="emulated call rate per feed")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--no-central", action="store_true", help="do not start the local centrals")
    p.add_argument("--plain", action="store_true", help="print status lines instead of the live screen")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("status", help="ask the running daemon: devices, calls, backlog, central, self-test")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("config", help="validate or show the configuration")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate a config file without starting anything")
    c.add_argument("file", nargs="?", help="config file (default: --config)")
    _add_config(c)
    c.set_defaults(func=cmd_config_check)
    c = csub.add_parser("show", help="print the effective configuration, secrets masked")
    _add_config(c)
    c.set_defaults(func=cmd_config_show)

    from appliance.store_commands import add_parsers as add_store_parsers
    add_store_parsers(sub, _add_config, _load)
    from appliance.desk_commands import add_parsers as add_desk_parsers
    add_desk_parsers(sub, _add_config, _load)

    # Listed for --help only: main() hands everything after these names to their own parsers.
    for name, text in DELEGATED_HELP.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _delegate(module: str, func: str, argv: list[str]) -> int:
    import importlib
    return importlib.import_module(module).__dict__[func](argv) or 0


DELEGATED_HELP = {
    "selftest": "hardware and connectivity self-tests with a pass/fail report (--help for options)",
    "central": "the reference central CRM endpoint: serve | dump | events | stats (for demos, tests, integrators)",
    "pki": "development PKI for the demo and tests: init --dir DIR --site SITE_ID",
    "keys": "the central's recording keys: generate --out DIR (identity 0600, recipient to configure)",
    "recording": "recordings: pause|resume --call KEY (PCI, via the daemon); reoffer refused segments; "
                 "info|decrypt|salvage FILES (central side)",
}

# Subcommands whose own parsers live with their code; everything after the name is theirs.
DELEGATED = {"selftest": ("hw_tests.cli", "selftest_main"),
             "central": ("appliance.central.cli", "main"),
             "pki": ("appliance.ops.pki", "pki_main"),
             "keys": ("appliance.audio.tools", "keys_main"),
             "recording": ("appliance.desk_commands", "recording_main")}


def _until_the_reader_leaves(command) -> int:
    """Run a command whose output may go to a pipe; a reader that stops early (`| head`) ends it
    quietly with EXIT_CLOSED_PIPE instead of a BrokenPipeError traceback."""
    try:
        code = command()
        sys.stdout.flush()          # inside the try: buffered output meets the closed pipe here
        return code
    except BrokenPipeError:
        # Python flushes stdout once more at exit; aim it at /dev/null so that cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_CLOSED_PIPE


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        module, func = DELEGATED[argv[0]]
        try:
            return _until_the_reader_leaves(lambda: _delegate(module, func, argv[1:]))
        except KeyboardInterrupt:
            return 130
    args = build_parser().parse_args(argv)
    try:
        return _until_the_reader_leaves(lambda: args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
