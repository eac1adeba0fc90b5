"""The reference central: serves CdrSync and grpc.health.v1 over mTLS and stores each batch durably before acking it."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from appliance.central.db import CentralDb, CentralDbError, RecordRow
from appliance.common.hostport import is_loopback
from appliance.ops.masking import mask_text
from appliance.ops.pki import site_id_from_cert
from appliance.v1 import cdr_pb2, sync_pb2, sync_pb2_grpc

log = logging.getLogger("appliance.central")

CDR_SYNC_SERVICE = "appliance.v1.CdrSync"
MAX_KEY_LENGTH = 256
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
POLICY_REJECT_REASON = "rejected by policy"

_DIRECTIONS = frozenset(v for v in cdr_pb2.Direction.values() if v != cdr_pb2.DIRECTION_UNSPECIFIED)
_DISPOSITIONS = frozenset(v for v in cdr_pb2.Disposition.values() if v != cdr_pb2.DISPOSITION_UNSPECIFIED)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")

_SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),      # a second central on the same port must fail, not share the port
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Notice sites that vanished without a FIN (power cut, cable) so their stream does not linger.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Let sites send their own keepalive pings (down to every 10 s) for fast failover detection.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]


@dataclass(frozen=True)
class CentralPolicy:
    """Test and demo aids: refuse some keys on purpose, or ack slowly to exercise a site's backpressure."""
    reject_keys_matching: re.Pattern[str] | None = None
    ack_delay_s: float = 0.0


@dataclass
class _Counters:
    batches: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, other: "_Counters") -> None:
        self.batches += other.batches
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.rejected += other.rejected


@dataclass
class _Stream:
    site_id: str
    peer: str
    counters: _Counters = field(default_factory=_Counters)


def validate_record(rec: cdr_pb2.CallRecord, site_id: str, policy: CentralPolicy) -> str:
    """Why this record can never be accepted as sent ("" when it is fine)."""
    key = rec.key
    if not key:
        return "empty key"
    if len(key) > MAX_KEY_LENGTH:
        return f"key longer than {MAX_KEY_LENGTH} characters"
    if rec.site_id != site_id:
        return "empty site_id" if not rec.site_id else "site_id mismatch"
    if rec.direction not in _DIRECTIONS:
        return f"unknown direction {rec.direction}"
    if rec.disposition not in _DISPOSITIONS:
        return f"unknown disposition {rec.disposition}"
    if not _RFC3339.fullmatch(rec.started_at):
        return "started_at is not an RFC 3339 time"
    if rec.answered_at and not _RFC3339.fullmatch(rec.answered_at):
        return "answered_at is not an RFC 3339 time"
    if rec.ended_at and not _RFC3339.fullmatch(rec.ended_at):
        return "ended_at is not an RFC 3339 time"
    if policy.reject_keys_matching is not None and policy.reject_keys_matching.search(key):
        return POLICY_REJECT_REASON
    return ""


def parse_listen(listen: str) -> tuple[str, int]:
    """"127.0.0.1:50051" / "[::1]:0" / "localhost:7443" -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen address must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


@functools.lru_cache(maxsize=256)
def _site_of_pem(pem: bytes) -> str:
    return site_id_from_cert(pem)


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CentralServer:
    """A CdrSync server on grpc.aio. start() opens the db and binds; stop() drains in-flight batches.

    With cert/key/client_ca it requires a client certificate from that CA and takes the site id from it.
    Without them it runs plaintext, only on loopback, and trusts Hello.site_id (tests and demos).
    """

    def __init__(self, listen: str, db_path: str | os.PathLike, *, cert: str | os.PathLike | None = None,
                 key: str | os.PathLike | None = None, client_ca: str | os.PathLike | None = None,
                 policy: CentralPolicy = CentralPolicy()):
        tls_files = (cert, key, client_ca)
        if any(tls_files) and not all(tls_files):
            raise ValueError("mTLS needs cert, key and client_ca together")
        host, _ = parse_listen(listen)
        self.mtls = all(tls_files)
        if not self.mtls and not is_loopback(host):
            raise ValueError(f"plaintext central may only listen on loopback, not {host!r}; give cert, key and client_ca")
        self.listen = listen
        self.db_path = os.fspath(db_path)
        self.policy = policy
        self._tls_files = tls_files
        self._port = 0
        self._state = "created"
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._db: CentralDb | None = None
        self._db_thread: ThreadPoolExecutor | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_waiter: asyncio.Future | None = None
        self._streams: dict[asyncio.Task, _Stream] = {}
        self._totals = _Counters()
        self._selftests = 0

    @property
    def port(self) -> int:
        """The bound port (useful with HOST:0); 0 before start()."""
        return self._port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._stop_waiter = asyncio.ensure_future(self._stopping.wait())
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="central-db")
        try:
            self._db = await loop.run_in_executor(self._db_thread, CentralDb, self.db_path)
            server = grpc.aio.server(options=_SERVER_OPTIONS)
            sync_pb2_grpc.add_CdrSyncServicer_to_server(_CdrSyncServicer(self), server)
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
            self._port = self._bind(server)
        except BaseException:
            await self._close_db()
            self._stop_waiter.cancel()
            raise
        self._server = server
        await server.start()
        for service in ("", CDR_SYNC_SERVICE):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._state = "serving"
        log.info("serving on port %d (%s), db %s", self._port,
                 "mTLS" if self.mtls else "plaintext", self.db_path)

    def _bind(self, server: grpc.aio.Server) -> int:
        try:
            if self.mtls:
                cert, key, client_ca = (open(path, "rb").read() for path in self._tls_files)
                creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                                    require_client_auth=True)
                port = server.add_secure_port(self.listen, creds)
            else:
                port = server.add_insecure_port(self.listen)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {self.listen}: {exc}") from exc
        if not port:
            raise OSError(f"cannot listen on {self.listen}")
        return port

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work, let each stream finish the batch it is on (up to grace seconds), then close."""
        if self._server is None or self._state in ("stopping", "stopped"):
            return
        self._state = "stopping"
        await self._health.enter_graceful_shutdown()
        self._stopping.set()
        busy = list(self._streams)
        if busy:
            await asyncio.wait(busy, timeout=grace)
        await self._server.stop(grace)
        self._stop_waiter.cancel()
        await self._close_db()
        self._state = "stopped"
        log.info("stopped (%d batches, %d stored, %d duplicate, %d rejected)", self._totals.batches,
                 self._totals.stored, self._totals.duplicate, self._totals.rejected)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def _close_db(self) -> None:
        if self._db_thread is None:
            return
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(self._db_thread, self._db.close)
            self._db = None
        self._db_thread.shutdown(wait=True)
        self._db_thread = None

    def status(self) -> dict:
        streams = list(self._streams.values())
        return {
            "component": "central",
            "state": self._state,
            "listen": self.listen,
            "port": self._port,
            "security": "mtls" if self.mtls else "plaintext",
            "db": self.db_path,
            "streams": len(streams),
            "sites": sorted({s.site_id for s in streams}),
            "batches": self._totals.batches,
            "stored": self._totals.stored,
            "duplicate": self._totals.duplicate,
            "rejected": self._totals.rejected,
            "selftests": self._selftests,
        }

    # -- used by the servicer -------------------------------------------------------------------

    async def site_identity(self, context: grpc.aio.ServicerContext) -> str | None:
        """The site named by the client certificate; None in plaintext mode."""
        if not self.mtls:
            return None
        pems = context.auth_context().get("x509_pem_cert") or []
        if not pems:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
        try:
            return _site_of_pem(bytes(pems[0]))
        except ValueError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"client certificate names no site: {exc}")

    async def read(self, context: grpc.aio.ServicerContext):
        """Next request, or None at end of stream or when the central is stopping."""
        reader = asyncio.ensure_future(context.read())
        try:
            await asyncio.wait((reader, self._stop_waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not reader.done():
                reader.cancel()
        if not reader.done() or reader.cancelled():
            return None
        message = reader.result()
        return None if message is grpc.aio.EOF else message

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stream_opened(self, stream: _Stream) -> None:
        self._streams[asyncio.current_task()] = stream

    def stream_closed(self) -> None:
        self._streams.pop(asyncio.current_task(), None)

    async def store_batch(self, stream: _Stream, batch: sync_pb2.CdrBatch) -> sync_pb2.SyncResponse:
        """Validate, commit the valid records in one transaction, and only then build the acks."""
        records = batch.records
        response = sync_pb2.SyncResponse(batch_id=batch.batch_id)
        acks = response.acks
        rows: list[RecordRow] = []
        stored_at: list[int] = []
        rejected: list[tuple[str, str]] = []
        site_id, policy = stream.site_id, self.policy
        for index, rec in enumerate(records):
            reason = validate_record(rec, site_id, policy)
            if reason:
                acks.add(key=rec.key, status=sync_pb2.REJECTED, reason=reason)
                rejected.append((rec.key, reason))
            else:
                acks.add(key=rec.key)
                rows.append(RecordRow(rec.key, rec.started_at, rec.source, rec.direction, rec.disposition,
                                      rec.pbx_call_id, rec.SerializeToString()))
                stored_at.append(index)
        is_new = await asyncio.get_running_loop().run_in_executor(
            self._db_thread, self._db.store_records, site_id, _utc_now(), rows)
        counts = _Counters(batches=1, rejected=len(rejected))
        for index, new in zip(stored_at, is_new):
            if new:
                acks[index].status = sync_pb2.STORED
                counts.stored += 1
            else:
                acks[index].status = sync_pb2.DUPLICATE
                counts.duplicate += 1
        stream.counters.add(counts)
        self._totals.add(counts)
        if rejected:
            key, reason = rejected[0]
            log.warning("site %s batch %d: %d of %d records rejected (first: key %s: %s)",
                        site_id, batch.batch_id, len(rejected), len(records), mask_text(key), reason)
        return response

    async def store_selftest(self, site_id: str, report: sync_pb2.SelfTestReport) -> bool:
        new = await asyncio.get_running_loop().run_in_executor(
            self._db_thread, self._db.store_selftest, site_id, report.run_id, _utc_now(), report.started_at,
            report.verdict, report.SerializeToString())
        if new:
            self._selftests += 1
        return new


class _CdrSyncServicer(sync_pb2_grpc.CdrSyncServicer):
    """Stream lifecycle and status codes; storage and validation live on CentralServer."""

    def __init__(self, central: CentralServer):
        self._central = central

    async def Sync(self, request_iterator, context: grpc.aio.ServicerContext) -> None:
        central = self._central
        peer = context.peer()
        if central.stopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
        cert_site = await central.site_identity(context)
        first = await central.read(context)
        if first is None:
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message on a Sync stream must be Hello")
        hello = first.hello
        if not hello.site_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Hello.site_id is empty")
        if cert_site is not None and hello.site_id != cert_site:
            log.warning("refused Hello for site %s from %s: client certificate is for site %s",
                        hello.site_id, peer, cert_site)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"Hello names site {hello.site_id!r} but the client certificate is for site {cert_site!r}")
        stream = _Stream(site_id=hello.site_id, peer=peer)
        central.stream_opened(stream)
        log.info("site %s connected from %s (%s, appliance %s)", stream.site_id, peer,
                 "mTLS" if cert_site is not None else "plaintext", hello.appliance_version or "?")
        ending = "stream closed by site"
        try:
            while True:
                request = await central.read(context)
                if request is None:
                    if central.stopping:
                        ending = "central shutting down"
                        await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
                    break
                if request.WhichOneof("body") != "batch":
                    ending = "protocol error"
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                        "after Hello a Sync stream carries only CdrBatch messages")
                try:
                    response = await central.store_batch(stream, request.batch)
                except (sqlite3.Error, CentralDbError) as exc:
                    ending = f"storage error: {exc}"
                    log.error("site %s batch %d not stored: %s", stream.site_id, request.batch.batch_id, exc)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "central storage error; re-send later")
                if central.policy.ack_delay_s:
                    await asyncio.sleep(central.policy.ack_delay_s)
                await context.write(response)
                if central.stopping:
                    ending = "central shutting down"
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
        except asyncio.CancelledError:
            ending = "stream cancelled"
            raise
        finally:
            central.stream_closed()
            c = stream.counters
            log.info("site %s disconnected from %s (%s): %d batches, %d stored, %d duplicate, %d rejected",
                     stream.site_id, peer, ending, c.batches, c.stored, c.duplicate, c.rejected)

    async def ReportSelfTest(self, request: sync_pb2.SelfTestReport, context: grpc.aio.ServicerContext):
        central = self._central
        cert_site = await central.site_identity(context)
        if not request.site_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "SelfTestReport.site_id is empty")
        if cert_site is not None and request.site_id != cert_site:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"report names site {request.site_id!r} but the client certificate is for site {cert_site!r}")
        if not request.run_id:
            return sync_pb2.SelfTestAck(status=sync_pb2.REJECTED, reason="empty run_id")
        try:
            new = await central.store_selftest(request.site_id, request)
        except (sqlite3.Error, CentralDbError) as exc:
            log.error("site %s self-test %s not stored: %s", request.site_id, request.run_id, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "central storage error; re-send later")
        verdict = sync_pb2.CheckStatus.Name(request.verdict) if request.verdict in sync_pb2.CheckStatus.values() \
            else str(request.verdict)
        log.info("site %s self-test %s: %s (%s)", request.site_id, request.run_id, verdict,
                 "stored" if new else "duplicate")
        return sync_pb2.SelfTestAck(status=sync_pb2.STORED if new else sync_pb2.DUPLICATE)
