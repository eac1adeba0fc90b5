"""`appliance central serve|dump|events|stats`: run the reference central, print what it stored, follow live
events, recompute a site's queue figures."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys

from appliance.central.db_args import add_db_arguments, read_password

log = logging.getLogger("appliance.central")

EXIT_USAGE = 2
USAGE = "usage: appliance central {serve,dump,events,stats} ...  (COMMAND --help for options)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from appliance.central.dump import dump_main
    from appliance.central.events_cli import events_main
    from appliance.central.stats_cli import stats_main
    commands = {"serve": serve_main, "dump": dump_main, "events": events_main, "stats": stats_main}
    if not argv or argv[0] not in commands:
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    return commands[argv[0]](argv[1:])


def serve_main(argv: list[str]) -> int:
    """Run a central until SIGTERM/SIGINT; the batches in flight are finished and acked first."""
    prog = "appliance central serve"
    parser = argparse.ArgumentParser(prog=prog, description="Reference central: CdrSync, LiveEvents, Recordings "
                                     "and grpc.health.v1 over mTLS, on SQLite or PostgreSQL.")
    parser.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to bind; port 0 picks one")
    add_db_arguments(parser)
    parser.add_argument("--cert", metavar="FILE", help="server certificate (PEM)")
    parser.add_argument("--key", metavar="FILE", help="server private key (PEM)")
    parser.add_argument("--client-ca", metavar="FILE", help="CA that issues site and CRM client certificates (PEM)")
    parser.add_argument("--recordings-dir", metavar="DIR",
                        help="where uploaded recordings go; every replica must write the same directory "
                             "(default: 'recordings' beside a SQLite db; none, so no uploads, with PostgreSQL)")
    parser.add_argument("--db-writers", type=int, metavar="N",
                        help="threads (each with its own connection) storing record batches "
                             "(default 1 for SQLite, 3 for PostgreSQL)")
    parser.add_argument("--subscriber-queue", type=int, default=1000, metavar="N",
                        help="events a live subscriber may fall behind before it is disconnected (default 1000)")
    parser.add_argument("--health-interval-s", type=float, default=1.0, metavar="S",
                        help="how often the database is pinged for grpc.health (default 1)")
    parser.add_argument("--port-file", metavar="FILE", help="write the bound port here once serving")
    parser.add_argument("--grace-s", type=float, default=5.0, help="on stop, wait this long for in-flight batches")
    parser.add_argument("--pg-insert", default="copy", choices=["copy", "staging", "values"],
                        help="benchmark aid: how PostgreSQL stores a batch (default copy)")
    parser.add_argument("--reject-keys-matching", metavar="REGEX",
                        help="test aid: REJECT records whose key matches (reason 'rejected by policy')")
    parser.add_argument("--ack-delay-ms", type=int, default=0, metavar="N",
                        help="test aid: wait N ms after each commit before acking (backpressure tests)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    # gRPC core says why a TLS handshake failed (e.g. CERTIFICATE_VERIFY_FAILED) only at INFO; it reads this
    # when grpc initialises, which is below (the server module is imported lazily). core_log turns that
    # into one line per refused handshake and keeps gRPC's other internal lines at debug.
    os.environ.setdefault("GRPC_VERBOSITY", "INFO")
    from appliance.central.core_log import route_core_log
    logging.basicConfig(level=args.log_level.upper(), stream=route_core_log(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)

    from appliance.central.server import CentralServer
    from appliance.central.validate import CentralPolicy
    try:
        pattern = re.compile(args.reject_keys_matching) if args.reject_keys_matching else None
    except re.error as exc:
        print(f"{prog}: bad --reject-keys-matching: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.ack_delay_ms < 0 or (args.db_writers is not None and args.db_writers < 1) or args.subscriber_queue < 1:
        print(f"{prog}: --ack-delay-ms must be >= 0, --db-writers and --subscriber-queue >= 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        password = read_password(args.db_password_file, prog)
        central = CentralServer(args.listen, args.db, cert=args.cert, key=args.key, client_ca=args.client_ca,
                                policy=CentralPolicy(pattern, args.ack_delay_ms / 1000), db_password=password,
                                recordings_dir=args.recordings_dir, db_writers=args.db_writers,
                                pg_insert=args.pg_insert, subscriber_queue=args.subscriber_queue,
                                health_interval_s=args.health_interval_s)
    except (ValueError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Record batches keep one thread busy in Python; a short GIL switch interval lets the event loop and
    # the live-event threads in within 1 ms instead of 5 (live latency during a backlog drain).
    sys.setswitchinterval(0.001)
    return asyncio.run(_serve(central, args.port_file, args.grace_s))


async def _serve(central, port_file: str | None, grace_s: float) -> int:
    from appliance.central.store import StoreError
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await central.start()
    except (OSError, StoreError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    if port_file:
        tmp = f"{port_file}.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{central.port}\n")
        os.replace(tmp, port_file)
    await stop.wait()
    log.info("stop requested; finishing in-flight batches (up to %.1f s)", grace_s)
    await central.stop(grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
