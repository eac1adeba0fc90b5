"""The reference central: CdrSync, LiveEvents, Recordings and grpc.health.v1 over mTLS, on SQLite or PostgreSQL."""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from appliance.central.cdr_writer import CdrWriter, Counters
from appliance.central.identity import require_site
from appliance.central.live_hub import LiveHub
from appliance.central.live_service import LIVE_SERVICE, LiveEventsService, LiveWriter
from appliance.central.recordings_service import RECORDINGS_SERVICE, RecordingsService
from appliance.central.backends import open_store
from appliance.central.store import CentralStore, StoreError, StoreUnavailable, is_postgres_url, mask_db_url
from appliance.central.sync_service import CDR_SYNC_SERVICE, CdrSyncService, SyncStreamState
from appliance.central.validate import CentralPolicy
from appliance.central.workers import StorePool
from appliance.common.hostport import is_loopback

log = logging.getLogger("appliance.central")

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
SERVICES = ("", CDR_SYNC_SERVICE, LIVE_SERVICE, RECORDINGS_SERVICE)
_SERVING, _NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING

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


def parse_listen(listen: str) -> tuple[str, int]:
    """"127.0.0.1:50051" / "[::1]:0" / "localhost:7443" -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen address must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class CentralServer:
    """start() opens (and migrates) the database and binds; stop() drains in-flight work.

    db is a SQLite file or a postgresql:// URL. With cert/key/client_ca it requires a client certificate
    from that CA and takes the site (or CRM client) from it; without them it runs plaintext, only on
    loopback, and trusts Hello.site_id (tests and demos). While the database cannot be written, every
    service reports NOT_SERVING and nothing is acknowledged.
    """

    def __init__(self, listen: str, db: str | os.PathLike, *, cert: str | os.PathLike | None = None,
                 key: str | os.PathLike | None = None, client_ca: str | os.PathLike | None = None,
                 policy: CentralPolicy = CentralPolicy(), db_password: str | None = None,
                 recordings_dir: str | os.PathLike | None = None, db_writers: int | None = None,
                 pg_insert: str = "copy", subscriber_queue: int = 1000, health_interval_s: float = 1.0):
        tls_files = (cert, key, client_ca)
        if any(tls_files) and not all(tls_files):
            raise ValueError("mTLS needs cert, key and client_ca together")
        host, _ = parse_listen(listen)
        self.mtls = all(tls_files)
        if not self.mtls and not is_loopback(host):
            raise ValueError(f"plaintext central may only listen on loopback, not {host!r}; give cert, key and client_ca")
        self.listen = listen
        self.db = os.fspath(db)
        self.postgres = is_postgres_url(self.db)
        self.policy = policy
        self.replica_id = uuid.uuid4().hex[:12]
        if recordings_dir is None and not self.postgres:
            recordings_dir = Path(self.db).resolve().parent / "recordings"
        self.recordings_dir = Path(recordings_dir) if recordings_dir is not None else None
        self._db_password = db_password
        self._pg_insert = pg_insert
        self._writers = db_writers or (3 if self.postgres else 1)
        self._health_interval_s = health_interval_s
        self._tls_files = tls_files
        self._port = 0
        self._state = "created"
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._stopping: asyncio.Event | None = None
        self._stop_waiter: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []
        self._streams: dict[asyncio.Task, SyncStreamState] = {}
        self._follower = None
        self.pool: StorePool | None = None
        self.cdr_writer: CdrWriter | None = None
        self.hub = LiveHub(subscriber_queue)
        self.live_writer = LiveWriter(self)
        self.recordings = RecordingsService(self, self.recordings_dir)
        self.db_ok = False
        self.db_error = ""
        self.totals = Counters()
        self.selftests = 0

    @property
    def port(self) -> int:
        """The bound port (useful with HOST:0); 0 before start()."""
        return self._port

    @property
    def location(self) -> str:
        return mask_db_url(self.db)

    def _open_store(self, create: bool = False) -> CentralStore:
        return open_store(self.db, create=create, password=self._db_password, pg_insert=self._pg_insert)

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._stop_waiter = asyncio.ensure_future(self._stopping.wait())
        self.pool = StorePool(self._open_store, {"live": 1, "misc": 1, "health": 1, "files": 2})
        try:
            await self.pool.run_plain("misc", lambda: self._open_store(create=True).close())
            self.cdr_writer = CdrWriter(self.pool, self.policy, self._writers)
            self.cdr_writer.start()
            if self.recordings_dir is not None:
                self.recordings_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            await self._start_fanout()
            server = grpc.aio.server(options=_SERVER_OPTIONS)
            server.add_generic_rpc_handlers((CdrSyncService(self).handler(), LiveEventsService(self).handler(),
                                             self.recordings.handler()))
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
            self._port = self._bind(server)
        except BaseException:
            await self._close_background()
            raise
        self._server = server
        await server.start()
        self.db_ok = True
        self._state = "serving"
        await self._set_health()
        self._tasks += [asyncio.create_task(self.live_writer.run(), name="central-live-writer"),
                        asyncio.create_task(self._watch_db(), name="central-db-watch")]
        log.info("serving on port %d (%s), db %s (%s, %d writer%s), replica %s, recordings %s", self._port,
                 "mTLS" if self.mtls else "plaintext", self.location, "postgres" if self.postgres else "sqlite",
                 self._writers, "s" if self._writers > 1 else "", self.replica_id, self.recordings_dir or "off")

    async def _start_fanout(self) -> None:
        """PostgreSQL: follow the other replicas' events (LISTEN); SQLite: one process, in-process only."""
        if not self.postgres:
            snapshots = await self.pool.call("misc", "site_snapshots")
            self.hub.load(snapshots.values())
            return
        from appliance.central.fanout_pg import PgFollower
        self._follower = PgFollower(self.db, self._db_password, self.replica_id, self.hub, asyncio.get_running_loop())
        self._follower.start()
        if not await self.pool.run_plain("misc", self._follower.listening.wait, 15):
            raise StoreError(f"{self.location}: live fan-out could not LISTEN")

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

    async def _set_health(self) -> None:
        """Publish what is true when this runs (calls may interleave; the last one reads the newest state)."""
        status = _SERVING if self.db_ok and self._state == "serving" else _NOT_SERVING
        for service in SERVICES:
            await self._health.set(service, status)

    # ---- the database's health ---------------------------------------------------------------

    def db_failed(self, exc: BaseException) -> None:
        """A write failed: stop acknowledging and tell the sites (NOT_SERVING) until a ping succeeds."""
        self.db_error = str(exc)
        if self.db_ok and self._state == "serving":
            self.db_ok = False
            log.error("database unavailable (%s): NOT_SERVING until it is back", exc)
            self._tasks.append(asyncio.ensure_future(self._set_health()))

    async def _watch_db(self) -> None:
        """Ping the database every health_interval_s on a thread of its own; flip health both ways."""
        ping: asyncio.Future | None = None
        while True:
            if ping is None:
                ping = asyncio.ensure_future(self.pool.call("health", "ping"))
            done, _ = await asyncio.wait((ping,), timeout=max(2.0, 3 * self._health_interval_s))
            if not done:
                self.db_failed(StoreUnavailable("the database does not answer"))
            else:
                error, ping = ping.exception(), None
                if error is not None:
                    self.db_failed(error)
                elif not self.db_ok and self._state == "serving":
                    self.db_ok = True
                    self.db_error = ""
                    log.info("database reachable again: SERVING")
                    await self._set_health()
            await asyncio.sleep(self._health_interval_s)

    # ---- stopping ------------------------------------------------------------------------------

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work, let each stream finish the batch it is on (up to grace seconds), then close."""
        if self._server is None or self._state in ("stopping", "stopped"):
            return
        self._state = "stopping"
        await self._health.enter_graceful_shutdown()
        self._stopping.set()
        self.hub.close()
        busy = list(self._streams)
        if busy:
            await asyncio.wait(busy, timeout=grace)
        await self._server.stop(grace)
        await self._close_background()
        self._state = "stopped"
        t = self.totals
        log.info("stopped (%d batches, %d stored, %d duplicate, %d rejected)", t.batches, t.stored, t.duplicate,
                 t.rejected)

    async def _close_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._stop_waiter is not None:
            self._stop_waiter.cancel()
        if self._follower is not None:
            await asyncio.to_thread(self._follower.stop)
            self._follower = None
        if self.cdr_writer is not None:
            await asyncio.to_thread(self.cdr_writer.stop)
            self.cdr_writer = None
        if self.pool is not None:
            await asyncio.to_thread(self.pool.close)
            self.pool = None

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def status(self) -> dict:
        streams = list(self._streams.values())
        return {
            "component": "central",
            "state": self._state,
            "listen": self.listen,
            "port": self._port,
            "security": "mtls" if self.mtls else "plaintext",
            "db": self.location,
            "backend": "postgres" if self.postgres else "sqlite",
            "db_ok": self.db_ok,
            "db_error": self.db_error,
            "replica": self.replica_id,
            "streams": len(streams),
            "sites": sorted({s.site_id for s in streams}),
            "batches": self.totals.batches,
            "stored": self.totals.stored,
            "duplicate": self.totals.duplicate,
            "rejected": self.totals.rejected,
            "selftests": self.selftests,
            "live_published": self.hub.published,
            "live_subscribers": len(self.hub.subscribers),
            "live_overflows": self.hub.overflows,
            "recordings_completed": self.recordings.completed,
            "recordings_rejected": self.recordings.rejected,
        }

    # ---- used by the services ------------------------------------------------------------------

    async def open_site_stream(self, context: grpc.aio.ServicerContext, action: str):
        """The opening every site stream shares: refuse while stopping, a CRM certificate, or (for
        streams that write) while the database is unavailable; then (peer, first message or None)."""
        if self.stopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "central is shutting down")
        peer = await require_site(context, self.mtls, action)
        if not self.db_ok:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "central database unavailable; try another central")
        return peer, await self.read(context)

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

    def stream_opened(self, stream: SyncStreamState) -> None:
        self._streams[asyncio.current_task()] = stream

    def stream_closed(self) -> None:
        self._streams.pop(asyncio.current_task(), None)
