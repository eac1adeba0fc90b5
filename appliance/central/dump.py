"""`appliance central dump`: what a central stored (records, self-tests, live events, statistics, recordings) as JSON lines."""
from __future__ import annotations

import argparse
import json
import sys

from google.protobuf.json_format import MessageToDict

from appliance.central.db_args import add_db_arguments, open_reader


def dump_main(argv: list[str]) -> int:
    """Print one JSON object per line, in arrival order (proto JSON field names)."""
    prog = "appliance central dump"
    parser = argparse.ArgumentParser(prog=prog, description="Print what a central stored as JSON lines "
                                     "(records by default; proto JSON field names plus receivedAt).")
    add_db_arguments(parser)
    parser.add_argument("--site", help="only this site's rows")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--selftests", action="store_true", help="self-test reports")
    what.add_argument("--events", action="store_true", help="live call, agent and alert events and snapshots")
    what.add_argument("--stats", action="store_true", help="queue statistics")
    what.add_argument("--recordings", action="store_true", help="recording segments held (metadata)")
    args = parser.parse_args(argv)

    from appliance.v1 import cdr_pb2, live_pb2, sync_pb2
    store = open_reader(args, prog, "appliance-central-dump")
    if store is None:
        return 1

    def message(message_type, payload: bytes, received_at: str, **extra) -> dict:
        obj = MessageToDict(message_type.FromString(payload), always_print_fields_with_no_presence=True)
        obj["receivedAt"] = received_at
        obj.update(extra)
        return obj

    if args.selftests:
        rows = (message(sync_pb2.SelfTestReport, s.payload, s.received_at) for s in store.selftests(args.site))
    elif args.events or args.stats:
        kinds = ("stats",) if args.stats else ("call", "agent", "alert", "snapshot")
        rows = (message(live_pb2.LiveEvent, e.payload, e.received_at) for e in store.live_events(args.site, kinds))
    elif args.recordings:
        rows = ({"siteId": r.site_id, "callKey": r.call_key, "index": r.segment_index, "name": r.name,
                 "size": r.size, "sha256": r.sha256, "path": r.path, "storedAt": r.stored_at}
                for r in store.recordings(args.site))
    else:
        rows = (message(cdr_pb2.CallRecord, r.payload, r.received_at) for r in store.records(args.site))
    try:
        out = sys.stdout
        for obj in rows:
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()                  # `dump | head`: appliance.cli ends a closed pipe quietly (exit 141)
    finally:
        store.close()
    return 0
