"""`appliance central serve|dump`: run the reference central, or print what it stored as JSON lines."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys

from google.protobuf.json_format import MessageToDict

log = logging.getLogger("appliance.central")

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"serve": serve_main, "dump": dump_main}
    if not argv or argv[0] not in commands:
        print("usage: appliance central {serve,dump} ...  (serve --help / dump --help for options)",
              file=sys.stderr)
        return EXIT_USAGE
    return commands[argv[0]](argv[1:])


def serve_main(argv: list[str]) -> int:
    """Run a central until SIGTERM/SIGINT; the batches in flight are finished and acked first."""
    parser = argparse.ArgumentParser(prog="appliance central serve",
                                     description="Reference central: CdrSync + grpc.health.v1 over mTLS.")
    parser.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to bind; port 0 picks one")
    parser.add_argument("--db", required=True, metavar="FILE", help="SQLite file (created if missing)")
    parser.add_argument("--cert", metavar="FILE", help="server certificate (PEM)")
    parser.add_argument("--key", metavar="FILE", help="server private key (PEM)")
    parser.add_argument("--client-ca", metavar="FILE", help="CA that issues site client certificates (PEM)")
    parser.add_argument("--port-file", metavar="FILE", help="write the bound port here once serving")
    parser.add_argument("--grace-s", type=float, default=5.0, help="on stop, wait this long for in-flight batches")
    parser.add_argument("--reject-keys-matching", metavar="REGEX",
                        help="test aid: REJECT records whose key matches (reason 'rejected by policy')")
    parser.add_argument("--ack-delay-ms", type=int, default=0, metavar="N",
                        help="test aid: wait N ms after each commit before acking (backpressure tests)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if args.log_level == "debug":
        # gRPC core logs why a TLS handshake failed (e.g. CERTIFICATE_VERIFY_FAILED) only at INFO; it reads this
        # when grpc initialises, which is below (the server module is imported lazily).
        os.environ.setdefault("GRPC_VERBOSITY", "INFO")
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)

    from appliance.central.server import CentralPolicy, CentralServer
    try:
        pattern = re.compile(args.reject_keys_matching) if args.reject_keys_matching else None
    except re.error as exc:
        print(f"appliance central serve: bad --reject-keys-matching: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.ack_delay_ms < 0:
        print("appliance central serve: --ack-delay-ms must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        central = CentralServer(args.listen, args.db, cert=args.cert, key=args.key, client_ca=args.client_ca,
                                policy=CentralPolicy(pattern, args.ack_delay_ms / 1000))
    except ValueError as exc:
        print(f"appliance central serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_serve(central, args.port_file, args.grace_s))


async def _serve(central, port_file: str | None, grace_s: float) -> int:
    from appliance.central.db import CentralDbError
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await central.start()
    except (OSError, CentralDbError) as exc:
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


def dump_main(argv: list[str]) -> int:
    """Print every stored record (or self-test report) as one JSON object per line, in arrival order."""
    parser = argparse.ArgumentParser(prog="appliance central dump",
                                     description="Print stored records as JSON lines (proto JSON field names).")
    parser.add_argument("--db", required=True, metavar="FILE")
    parser.add_argument("--site", help="only this site's records")
    parser.add_argument("--selftests", action="store_true", help="dump self-test reports instead of records")
    args = parser.parse_args(argv)

    from appliance.central.db import CentralDb, CentralDbError
    from appliance.v1 import cdr_pb2, sync_pb2
    try:
        db = CentralDb(args.db, create=False)
    except CentralDbError as exc:
        print(f"appliance central dump: {exc}", file=sys.stderr)
        return 1
    try:
        if args.selftests:
            rows = ((sync_pb2.SelfTestReport, s.payload, s.received_at) for s in db.selftests()
                    if args.site is None or s.site_id == args.site)
        else:
            rows = ((cdr_pb2.CallRecord, r.payload, r.received_at) for r in db.records(args.site))
        out = sys.stdout
        for message_type, payload, received_at in rows:
            obj = MessageToDict(message_type.FromString(payload), always_print_fields_with_no_presence=True)
            obj["receivedAt"] = received_at
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()                  # `dump | head`: appliance.cli ends a closed pipe quietly
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
