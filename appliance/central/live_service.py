"""LiveEvents: sites publish (stored by group commit, fanned out at once), CRM clients subscribe (bounded queues)."""
from __future__ import annotations

import asyncio
import logging

import grpc

from appliance.central.identity import check_claim, require_crm
from appliance.central.live_hub import CLOSED, OVERFLOW, Subscription
from appliance.central.store import CentralStore, LiveRow, StoreUnavailable
from appliance.central.cdr_writer import utc_now
from appliance.v1 import live_pb2

log = logging.getLogger("appliance.central")

LIVE_SERVICE = "appliance.v1.LiveEvents"
MAX_UNACKED = 1000          # a publisher's events waiting for their commit before its stream stops being read
MAX_GROUP = 1000            # events in one transaction


class Publisher:
    """One Publish stream: what it has sent, what is durable, what has been acked."""

    def __init__(self, site_id: str, peer: str):
        self.site_id = site_id
        self.peer = peer
        self.pending = 0
        self.durable_seq = -1       # site_seq may start at 0: its ack must still go out
        self.acked_seq = -1
        self.events = 0
        self.ended = False
        self.error: tuple[grpc.StatusCode, str] | None = None
        self.changed = asyncio.Event()
        self.space = asyncio.Event()

    def committed(self, count: int, seq: int) -> None:
        self.pending -= count
        self.durable_seq = max(self.durable_seq, seq)
        self.changed.set()
        self.space.set()

    def fail(self, code: grpc.StatusCode, message: str) -> None:
        if self.error is None:
            self.error = (code, message)
        self.changed.set()
        self.space.set()


class LiveWriter:
    """Group commit: everything that arrived while the last transaction ran goes into the next one, with
    the current snapshot of each site it touches; publishers are acked after that commit."""

    def __init__(self, central):
        self._central = central
        self._queue: asyncio.Queue = asyncio.Queue()
        self.groups = 0

    def submit(self, pub: Publisher, row: LiveRow) -> None:
        self._queue.put_nowait((pub, row))

    async def run(self) -> None:
        central, queue = self._central, self._queue
        while True:
            items = [await queue.get()]
            while not queue.empty() and len(items) < MAX_GROUP:
                items.append(queue.get_nowait())
            rows = [row for _, row in items]
            snapshots = {site: central.hub.snapshot_payload(site) for site in {row.site_id for row in rows}}
            try:
                await central.pool.run("live", _store_live, utc_now(), rows, snapshots, central.replica_id)
            except Exception as exc:     # noqa: BLE001 - StoreUnavailable, or a bug: no ack either way
                if isinstance(exc, StoreUnavailable):
                    central.db_failed(exc)
                    log.error("live events not stored: %s", exc)
                else:
                    log.exception("live events not stored")
                for pub, _ in items:
                    pub.fail(grpc.StatusCode.UNAVAILABLE, "central storage error; publish to another central")
                continue
            self.groups += 1
            done: dict[Publisher, list[int]] = {}
            for pub, row in items:
                done.setdefault(pub, []).append(row.site_seq)
            for pub, seqs in done.items():
                pub.committed(len(seqs), max(seqs))


def _store_live(store: CentralStore, received_at: str, rows, snapshots, origin: str) -> None:
    store.store_live(received_at, rows, snapshots, origin)


def _queue_of(event: live_pb2.LiveEvent, kind: str) -> str:
    if kind in ("call", "alert", "stats"):
        return getattr(event, kind).queue
    return ""


class LiveEventsService:
    def __init__(self, central):
        self._central = central

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(LIVE_SERVICE, {
            "Publish": grpc.stream_stream_rpc_method_handler(
                self.publish, request_deserializer=live_pb2.PublishRequest.FromString,
                response_serializer=live_pb2.PublishAck.SerializeToString),
            # Events go out as the bytes already serialized once for every subscriber.
            "Subscribe": grpc.unary_stream_rpc_method_handler(
                self.subscribe, request_deserializer=live_pb2.SubscribeRequest.FromString),
        })

    # ---- Publish (site -> central) ---------------------------------------------------------------

    async def publish(self, request_iterator, context: grpc.aio.ServicerContext) -> None:
        central = self._central
        peer, first = await central.open_site_stream(context, "publish live events")
        if first is None:
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "the first message on a Publish stream must be PublishHello")
        site_id = await check_claim(context, peer, first.hello.site_id, "PublishHello")
        pub = Publisher(site_id, context.peer())
        log.info("site %s publishing live events from %s (appliance %s)", site_id, pub.peer,
                 first.hello.appliance_version or "?")
        reader = asyncio.create_task(self._read_events(context, pub), name=f"live-read-{site_id}")
        try:
            while True:
                await pub.changed.wait()
                pub.changed.clear()
                if pub.error is not None:
                    await context.abort(*pub.error)
                if pub.durable_seq > pub.acked_seq:
                    pub.acked_seq = pub.durable_seq
                    await context.write(live_pb2.PublishAck(site_seq=pub.acked_seq))
                if pub.ended and pub.pending == 0:
                    if central.stopping:
                        await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
                    break
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            log.info("site %s stopped publishing from %s: %d events", site_id, pub.peer, pub.events)

    async def _read_events(self, context, pub: Publisher) -> None:
        central = self._central
        try:
            while True:
                while pub.pending >= MAX_UNACKED:
                    pub.space.clear()
                    await pub.space.wait()
                request = await central.read(context)
                if request is None:
                    return
                if request.WhichOneof("body") != "event":
                    pub.fail(grpc.StatusCode.FAILED_PRECONDITION,
                             "after PublishHello a Publish stream carries only LiveEvent messages")
                    return
                event = request.event
                if not event.site_id:
                    event.site_id = pub.site_id
                elif event.site_id != pub.site_id:
                    pub.fail(grpc.StatusCode.PERMISSION_DENIED,
                             f"event for site {event.site_id!r} on site {pub.site_id!r}'s stream")
                    return
                kind = event.WhichOneof("body")
                if kind is None:
                    pub.fail(grpc.StatusCode.INVALID_ARGUMENT, "LiveEvent without a body")
                    return
                payload = event.SerializeToString()
                central.hub.publish(event, payload)     # subscribers of this replica: now, not after the commit
                pub.pending += 1
                pub.events += 1
                central.live_writer.submit(pub, LiveRow(pub.site_id, event.site_seq, event.at, kind,
                                                        _queue_of(event, kind), payload))
        finally:
            pub.ended = True
            pub.changed.set()

    # ---- Subscribe (central -> CRM) --------------------------------------------------------------

    async def subscribe(self, request: live_pb2.SubscribeRequest, context: grpc.aio.ServicerContext) -> None:
        central = self._central
        if central.stopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
        peer = await require_crm(context, central.mtls, "subscribe to live events")
        sub = central.hub.subscribe(request)
        who = peer.name or context.peer()
        log.info("subscriber %s connected from %s (sites %s, queues %s, agents %s, stats %s)", who, context.peer(),
                 list(request.sites) or "all", list(request.queues) or "all", list(request.agents) or "all",
                 request.include_stats)
        ending = "closed by subscriber"
        try:
            await self._deliver(context, sub)
        except asyncio.CancelledError:
            ending = "cancelled"
            raise
        except BaseException as exc:
            ending = "overflow" if sub.overflowed else type(exc).__name__
            raise
        finally:
            central.hub.unsubscribe(sub)
            log.info("subscriber %s disconnected (%s): %d events delivered", who, ending, sub.delivered)

    async def _deliver(self, context, sub: Subscription) -> None:
        too_slow = (f"subscriber too slow: more than {sub.limit} events waiting; "
                    "re-subscribe to get a fresh snapshot")
        # A subscriber that stops reading blocks the write (HTTP/2 flow control); its overflow must still
        # end the stream at once, so each write that does not finish at once races the overflow.
        overflow = asyncio.ensure_future(sub.overflow_event.wait())
        try:
            while True:
                item = await sub.queue.get()
                if item is OVERFLOW:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, too_slow)
                if item is CLOSED:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
                write = asyncio.ensure_future(context.write(item))
                await asyncio.wait((write, overflow), return_when=asyncio.FIRST_COMPLETED)
                if not write.done():
                    write.cancel()
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, too_slow)
                write.result()
                sub.delivered += 1
        finally:
            overflow.cancel()
