"""CdrSync: the Sync stream (batches stored and acked in order, pipelined) and ReportSelfTest."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import DecodeError

from appliance.central.cdr_writer import BatchOutcome, Counters, utc_now
from appliance.central.identity import check_claim, require_site
from appliance.central.store import CentralStore, StoreUnavailable
from appliance.v1 import sync_pb2

log = logging.getLogger("appliance.central")

CDR_SYNC_SERVICE = "appliance.v1.CdrSync"
PIPELINE_DEPTH = 4          # batches of one stream being stored at once; responses still go out in order
_STORED, _DUPLICATE, _REJECTED = sync_pb2.STORED, sync_pb2.DUPLICATE, sync_pb2.REJECTED


@dataclass
class SyncStreamState:
    site_id: str
    peer: str
    counters: Counters = field(default_factory=Counters)


class CdrSyncService:
    """Stream lifecycle and status codes. A reader task hands each batch to the CdrWriter at once (up to
    PIPELINE_DEPTH per stream); the handler writes the responses in batch order as each commit finishes."""

    def __init__(self, central):
        self._central = central

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(CDR_SYNC_SERVICE, {
            # Raw bytes in and out: records are sliced from the request and acks serialised on a worker.
            "Sync": grpc.stream_stream_rpc_method_handler(self.sync),
            "ReportSelfTest": grpc.unary_unary_rpc_method_handler(
                self.report_selftest, request_deserializer=sync_pb2.SelfTestReport.FromString,
                response_serializer=sync_pb2.SelfTestAck.SerializeToString),
        })

    async def sync(self, request_iterator, context: grpc.aio.ServicerContext) -> None:
        central = self._central
        peer_address = context.peer()
        peer, first = await central.open_site_stream(context, "deliver records")
        if first is None:
            return
        try:
            hello = sync_pb2.SyncRequest.FromString(first)
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "undecodable SyncRequest")
        if hello.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message on a Sync stream must be Hello")
        if peer.kind == "site" and hello.hello.site_id and hello.hello.site_id != peer.name:
            log.warning("refused Hello for site %s from %s: client certificate is for site %s",
                        hello.hello.site_id, peer_address, peer.name)
        site_id = await check_claim(context, peer, hello.hello.site_id, "Hello")
        stream = SyncStreamState(site_id=site_id, peer=peer_address)
        central.stream_opened(stream)
        log.info("site %s connected from %s (%s, appliance %s)", site_id, peer_address,
                 "mTLS" if central.mtls else "plaintext", hello.hello.appliance_version or "?")
        pending: asyncio.Queue = asyncio.Queue()         # unbounded: the end marker always fits
        slots = asyncio.Semaphore(PIPELINE_DEPTH)
        reader = asyncio.create_task(self._read_batches(context, stream, pending, slots), name=f"sync-read-{site_id}")
        ending = "stream closed by site"
        try:
            ending = await self._write_responses(context, stream, pending, slots)
        except asyncio.CancelledError:
            ending = "stream cancelled"
            raise
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            while not pending.empty():
                item = pending.get_nowait()
                if isinstance(item, asyncio.Future):
                    item.cancel()
            central.stream_closed()
            c = stream.counters
            log.info("site %s disconnected from %s (%s): %d batches, %d stored, %d duplicate, %d rejected",
                     site_id, peer_address, ending, c.batches, c.stored, c.duplicate, c.rejected)

    async def _read_batches(self, context, stream: SyncStreamState, pending: asyncio.Queue,
                            slots: asyncio.Semaphore) -> None:
        """Start storing each batch as soon as it arrives (PIPELINE_DEPTH at most); None marks the end."""
        central = self._central
        try:
            while True:
                await slots.acquire()
                raw = await central.read(context)
                if raw is None:
                    break
                pending.put_nowait(central.cdr_writer.submit(stream.site_id, raw))
        finally:
            pending.put_nowait(None)

    async def _write_responses(self, context, stream: SyncStreamState, pending: asyncio.Queue,
                               slots: asyncio.Semaphore) -> str:
        central = self._central
        while True:
            work = await pending.get()
            if work is None:
                if central.stopping:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
                return "stream closed by site"
            try:
                outcome: BatchOutcome = await work
            except StoreUnavailable as exc:
                central.db_failed(exc)
                log.error("site %s: batch not stored: %s", stream.site_id, exc)
                await context.abort(grpc.StatusCode.UNAVAILABLE, "central storage error; re-send later")
            if outcome.error is not None:
                await context.abort(*outcome.error)
            stream.counters.add(outcome.counts)
            central.totals.add(outcome.counts)
            if outcome.first_reject:
                log.warning("site %s: %d records rejected (first: key %s)", stream.site_id,
                            outcome.counts.rejected, outcome.first_reject)
            if central.policy.ack_delay_s:
                await asyncio.sleep(central.policy.ack_delay_s)
            await context.write(outcome.response)
            slots.release()

    async def report_selftest(self, request: sync_pb2.SelfTestReport, context: grpc.aio.ServicerContext):
        central = self._central
        peer = await require_site(context, central.mtls, "report self-tests")
        site_id = await check_claim(context, peer, request.site_id, "SelfTestReport")
        if not request.run_id:
            return sync_pb2.SelfTestAck(status=_REJECTED, reason="empty run_id")
        try:
            new = await central.pool.run("misc", _store_selftest, site_id, request)
        except StoreUnavailable as exc:
            central.db_failed(exc)
            log.error("site %s self-test %s not stored: %s", site_id, request.run_id, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "central storage error; re-send later")
        verdict = sync_pb2.CheckStatus.Name(request.verdict) if request.verdict in sync_pb2.CheckStatus.values() \
            else str(request.verdict)
        log.info("site %s self-test %s: %s (%s)", site_id, request.run_id, verdict, "stored" if new else "duplicate")
        if new:
            central.selftests += 1
        return sync_pb2.SelfTestAck(status=_STORED if new else _DUPLICATE)


def _store_selftest(store: CentralStore, site_id: str, report: sync_pb2.SelfTestReport) -> bool:
    return store.store_selftest(site_id, report.run_id, utc_now(), report.started_at, report.verdict,
                                report.SerializeToString())
