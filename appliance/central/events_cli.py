"""`appliance central events`: follow a central's live events as a CRM subscriber, one JSON object per line."""
from __future__ import annotations

import argparse
import json
import sys

EXIT_USAGE = 2


def events_main(argv: list[str]) -> int:
    prog = "appliance central events"
    parser = argparse.ArgumentParser(prog=prog, description="Subscribe to live events (LiveEvents.Subscribe) and "
                                     "print each as one JSON object (protobuf JSON mapping) until interrupted.")
    parser.add_argument("--connect", required=True, metavar="HOST:PORT")
    parser.add_argument("--ca", metavar="FILE", help="CA of the central's certificate (PEM)")
    parser.add_argument("--cert", metavar="FILE", help="CRM client certificate (PEM), e.g. crm.pem from `pki init`")
    parser.add_argument("--key", metavar="FILE", help="its private key")
    parser.add_argument("--site", action="append", default=[], help="only this site (repeatable)")
    parser.add_argument("--queue", action="append", default=[], help="only this queue (repeatable)")
    parser.add_argument("--agent", action="append", default=[], help="only this agent (repeatable)")
    parser.add_argument("--stats", action="store_true", help="include queue statistics (frequent)")
    args = parser.parse_args(argv)
    tls = (args.ca, args.cert, args.key)
    if any(tls) and not all(tls):
        print(f"{prog}: --ca, --cert and --key go together (none of them: plaintext, for a test central)",
              file=sys.stderr)
        return EXIT_USAGE

    import grpc
    from google.protobuf.json_format import MessageToDict

    from appliance.v1 import live_pb2, live_pb2_grpc
    if all(tls):
        with open(args.ca, "rb") as ca, open(args.cert, "rb") as cert, open(args.key, "rb") as key:
            creds = grpc.ssl_channel_credentials(ca.read(), key.read(), cert.read())
        channel = grpc.secure_channel(args.connect, creds)
    else:
        channel = grpc.insecure_channel(args.connect)
    request = live_pb2.SubscribeRequest(sites=args.site, queues=args.queue, agents=args.agent,
                                        include_stats=args.stats)
    call = live_pb2_grpc.LiveEventsStub(channel).Subscribe(request)
    try:
        for event in call:
            sys.stdout.write(json.dumps(MessageToDict(event), ensure_ascii=False) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    except grpc.RpcError as exc:
        print(f"{prog}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    finally:
        call.cancel()
        channel.close()
    return 0
