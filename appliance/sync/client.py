"""Deliver every stored CDR to the central exactly once: a gRPC (mTLS) stream with failover and failback."""
from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from appliance import __version__
from appliance.sync import convert
from appliance.sync.endpoints import BackoffPolicy, EndpointSelector
from appliance.ops.logsetup import BurstLimiter
from appliance.ops.masking import mask_text
from appliance.sync.config import SyncConfig
from appliance.sync.tls import diagnose_tls, load_credentials
from appliance.v1 import sync_pb2

__all__ = ["SyncClient", "SyncConfig"]

log = logging.getLogger("appliance.sync")

SYNC_METHOD = "/appliance.v1.CdrSync/Sync"
_SESSION_STABLE_S = 5.0         # a session that lived this long counts as productive even without acks
_WATCH_INTERVAL_S = 0.1
_HEARTBEAT_S = 0.5
_STORE_STUCK_S = 2.0            # a store job running longer than this stops last_progress
_BACKLOG_REFRESH_S = 1.0
_TLS_WORDS = ("Tls handshake", "Handshake", "SSL", "certificate", "erification")   # in gRPC's texts


class _SessionEnded(Exception):
    """The current stream cannot go on because of the central or the network; the message says why."""


class _LocalFailure(Exception):
    """Our side failed (the store): retry later on the same endpoint, never fail over for it."""


@dataclass(frozen=True)
class _Outcome:
    """How one connection attempt ended."""
    error: str = ""                     # the endpoint failed: fail over
    local_error: str = ""               # the store failed: retry the same endpoint after a delay
    productive: bool = False            # the session did useful work before it ended
    failback_to: int | None = None      # a better endpoint has been healthy long enough


@dataclass(frozen=True)
class _Prepared:
    """One batch read from the store and encoded, ready to write; `last_id` moves the cursor."""
    batch_id: int
    ids: tuple[int, ...]
    keys: tuple[str, ...]
    payload: bytes
    last_id: int
    unsendable: int                     # records dead-lettered locally because they cannot be encoded
    first_unsendable: str               # why, for the first of them


@dataclass(frozen=True)
class _InFlight:
    batch_id: int
    ids: tuple[int, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class _AckResult:
    """What one store-thread pass over received responses did."""
    batch_ids: tuple[int, ...]          # fully handled, free their window slots
    stored: int
    duplicates: int
    rejected: int
    first_reject: str                   # "key: reason" of one rejected record, for the log
    error: str                          # a protocol error: the session must end ("" if none)


@dataclass
class _Session:
    """State of one connected stream; discarded when the stream ends."""
    endpoint: str
    call: grpc.aio.StreamStreamCall
    connected_at: float
    inflight: dict[int, _InFlight] = field(default_factory=dict)
    unanswered_sent_at: deque = field(default_factory=deque)
    last_response_at: float = 0.0
    responses: list[bytes] = field(default_factory=list)
    responses_ready: asyncio.Event = field(default_factory=asyncio.Event)
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False
    acked: int = 0


class _Immediate:
    """Awaitable that is already done (stop() before run())."""

    def __await__(self):
        return iter(())


class SyncClient:
    """Streams the store's outbox to the first healthy central, in cdr-id order, with a bounded window.

    Store work (reads, marks, protobuf encoding and decoding of big batches) runs on two dedicated
    threads, each with its own Store; the event loop only moves bytes, so device handling on the
    same loop is never held up for long. Delivery is at-least-once on the wire and exactly-once in
    effect: whatever is not acknowledged is re-sent after a reconnect and the central de-duplicates
    on key. A rejected record goes to the store's dead-letter table with the central's reason.
    """

    def __init__(self, config: SyncConfig, store_factory: Callable[[], object], site_id: str, *,
                 clock: Callable[[], float] = time.monotonic, rand: Callable[[], float] = random.random,
                 appliance_version: str = __version__):
        self.config = config
        self.site_id = site_id
        self._store_factory = store_factory
        self._clock = clock
        self._rand = rand
        self._credentials = None if config.plaintext else load_credentials(config)
        self._selector = EndpointSelector(
            config.endpoints, failback_after_s=config.failback_after_s, rand=rand,
            backoff=BackoffPolicy(base_s=config.reconnect_delay_s, cap_s=config.reconnect_delay_max_s))
        self._hello = convert.hello_request(site_id, appliance_version).SerializeToString()
        self._local = threading.local()             # each store thread's own Store
        self._reader: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._store_jobs: dict[int, float] = {}     # running store-thread jobs -> when submitted
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._stop_event: asyncio.Event | None = None
        self._wake_event: asyncio.Event | None = None
        self._done: asyncio.Future | None = None
        self._stop_requested = False
        self._session: _Session | None = None
        self._next_batch_id = 1
        self._backlog: tuple[int, float | None] = (0, None)
        self._backlog_at = float("-inf")
        self._logged_errors: dict[str, str] = {}     # endpoint -> last error logged for it
        self._retrying_quietly = False
        self._bursts = BurstLimiter(window_s=10.0, clock=clock)     # rejects: one line per burst
        # status counters
        self.connected = False
        self.acked_total = 0
        self.stored_total = 0
        self.duplicates_total = 0
        self.rejected_total = 0
        self.unsendable_total = 0
        self.batches_sent = 0
        self.in_flight_peak = 0
        self.sessions = 0
        self.last_error = ""
        self.last_ack_at: str | None = None
        self.last_progress = clock()

    # ---- public API ---------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until stop(). Never raises for central or network trouble: it retries and reports."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stop_event = asyncio.Event()
        self._wake_event = asyncio.Event()
        self._done = self._loop.create_future()
        if self._stop_requested:
            self._stop_event.set()
        # Two store threads, each with its own Store: reads and encoding on one, marking acks (mostly
        # SQLite and fsync, which release the GIL) on the other, so the two overlap.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-store-read")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-store-write")
        main = asyncio.create_task(self._main(), name="sync-main")
        stopper = asyncio.create_task(self._stop_event.wait(), name="sync-stop-wait")
        heartbeat = asyncio.create_task(self._heartbeat(), name="sync-heartbeat")
        try:
            await asyncio.wait((main, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_all((main, stopper, heartbeat))
            for executor in (self._reader, self._writer):
                try:
                    await self._in_thread(executor, self._close_store)
                except _LocalFailure as exc:
                    log.warning("%s", exc)
                executor.shutdown(wait=True)
            self._reader = self._writer = None
            self.connected = False
            if not self._done.done():
                self._done.set_result(None)
        if main.done() and not main.cancelled() and main.exception() is not None:
            raise main.exception()

    def stop(self) -> Awaitable[None]:
        """Ask run() to finish. Safe from any thread; await the result to wait until it has."""
        self._stop_requested = True
        loop, event = self._loop, self._stop_event
        if loop is None or event is None or loop.is_closed():
            return _Immediate()
        if threading.get_ident() == self._loop_thread:
            event.set()
            return asyncio.shield(self._done)
        _call_soon(loop, event.set)
        return _Immediate()

    def wake(self) -> None:
        """New records are durable in the store: send them now instead of at the next poll."""
        loop, event = self._loop, self._wake_event
        if loop is None or event is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            event.set()
        else:
            _call_soon(loop, event.set)

    def status(self) -> dict:
        """Plain values for the CLI, metrics and the watchdog.

        backlog / oldest_unsent_age_s come from the store (refreshed about once a second);
        acked_total counts STORED + DUPLICATE; rejected_total includes records we could not encode
        (unsendable_total); last_progress is monotonic and stops moving when a store thread is stuck.
        """
        backlog, oldest = self._backlog
        session = self._session
        return {
            "component": "sync",
            "active_endpoint": self._selector.active_endpoint,
            "connected": self.connected,
            "backlog": backlog,
            "oldest_unsent_age_s": None if oldest is None else round(oldest, 3),
            "in_flight_batches": len(session.inflight) if session else 0,
            "in_flight_peak": self.in_flight_peak,
            "last_ack_at": self.last_ack_at,
            "acked_total": self.acked_total,
            "stored_total": self.stored_total,
            "duplicates_total": self.duplicates_total,
            "rejected_total": self.rejected_total,
            "unsendable_total": self.unsendable_total,
            "batches_sent": self.batches_sent,
            "sessions": self.sessions,
            "failovers": self._selector.failovers,
            "failbacks": self._selector.failbacks,
            "last_error": self.last_error,
            "last_progress": self.last_progress,
        }

    # ---- the endpoint loop --------------------------------------------------------------

    async def _main(self) -> None:
        local_failures = 0
        # Checked each round as well as cancelled by run(): a cancellation can be lost (asyncio.wait_for
        # on 3.11 drops one that races a completing await), and this loop must still end.
        while not self._stop_event.is_set():
            index = self._selector.active
            endpoint = self._selector.active_endpoint
            outcome = await self._attempt(endpoint)
            self._progress()
            if outcome.failback_to is not None:
                log.info("central %s healthy for %g s: failing back from %s",
                         self._selector.endpoints[outcome.failback_to], self.config.failback_after_s,
                         endpoint)
                self._selector.fail_back(outcome.failback_to)
                continue
            if outcome.productive:
                self._selector.on_productive()
                local_failures = 0
            if outcome.local_error:
                local_failures += 1
                self._set_error("store", outcome.local_error)
                await self._sleep(self._selector.backoff.delay(local_failures, self._rand))
                continue
            self._set_error(endpoint, f"central {endpoint}: {outcome.error}")
            delay = self._selector.on_failure()
            # Say it once per outage, not on every retry of a long one.
            level = logging.DEBUG if self._retrying_quietly else logging.WARNING
            if self._selector.active != index:
                log.log(level, "failing over from %s to %s", endpoint, self._selector.active_endpoint)
            try:
                await self._in_thread(self._writer, self._refresh_backlog)
            except _LocalFailure:
                pass
            if delay > 0:
                log.log(level, "every central failed; retrying with back-off (now %.1f s, "
                        "at most %g s)", delay, self.config.reconnect_delay_max_s)
                self._retrying_quietly = True
                await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        """Sleep, but not past a stop() request."""
        await _within(self._stop_event.wait(), delay)

    async def _attempt(self, endpoint: str) -> _Outcome:
        """Connect and stream until the session ends."""
        channel = self._make_channel(endpoint)
        probes: dict[int, grpc.aio.Channel] = {}
        session: _Session | None = None
        try:
            error = await self._connect(channel, endpoint)
            if error:
                return _Outcome(error=error)
            method = channel.stream_stream(SYNC_METHOD, request_serializer=None,
                                           response_deserializer=None)
            call = method(wait_for_ready=False)
            session = _Session(endpoint=endpoint, call=call, connected_at=self._clock())
            session.last_response_at = session.connected_at
            await call.write(self._hello)
            self._session = session
            self.connected = True
            self.sessions += 1
            self.last_error = ""
            self._logged_errors.clear()
            self._retrying_quietly = False
            log.info("connected to central %s", endpoint)
            return await self._stream(session, probes)
        except _LocalFailure as exc:
            return _Outcome(local_error=str(exc), productive=self._was_productive(session))
        except (grpc.aio.AioRpcError, _SessionEnded, asyncio.InvalidStateError) as exc:
            return _Outcome(error=_describe(exc), productive=self._was_productive(session))
        except Exception as exc:      # noqa: BLE001 - a bug must not kill delivery; say so loudly
            log.exception("unexpected error in the session with %s", endpoint)
            return _Outcome(local_error=f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.connected = False
            self._session = None
            if session is not None:
                session.call.cancel()
            for probe in probes.values():
                await probe.close()
            await channel.close()

    def _was_productive(self, session: _Session | None) -> bool:
        return session is not None and (
            session.acked > 0 or self._clock() - session.connected_at >= _SESSION_STABLE_S)

    async def _stream(self, session: _Session, probes: dict) -> _Outcome:
        tasks = {
            asyncio.create_task(self._sender(session), name="sync-send"),
            asyncio.create_task(self._receiver(session), name="sync-receive"),
            asyncio.create_task(self._acker(session), name="sync-ack"),
            asyncio.create_task(self._ack_watch(session), name="sync-ack-watch"),
            asyncio.create_task(self._prober(probes), name="sync-probe"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finished = done.pop()
            exc = finished.exception()
            if exc is not None:
                raise exc
            target = finished.result()
            await self._drain(session, tasks - {finished})
            return _Outcome(failback_to=target, productive=True)
        finally:
            await _cancel_all(tasks)

    async def _drain(self, session: _Session, running: set[asyncio.Task]) -> None:
        """Failback: stop sending and give in-flight batches a moment to be acked (the rest is re-sent)."""
        session.draining = True
        deadline = self._clock() + self.config.drain_timeout_s
        while session.inflight and self._clock() < deadline:
            if any(task.done() for task in running):
                return
            session.slot_freed.clear()
            if not await _within(session.slot_freed.wait(), deadline - self._clock()):
                return

    # ---- connecting ---------------------------------------------------------------------

    def _make_channel(self, endpoint: str) -> grpc.aio.Channel:
        options = self.config.channel_options()
        if self._credentials is None:
            return grpc.aio.insecure_channel(endpoint, options=options)
        return grpc.aio.secure_channel(endpoint, self._credentials, options=options)

    async def _connect(self, channel: grpc.aio.Channel, endpoint: str) -> str:
        """Bring the channel to READY within connect_timeout_s. Returns "" or why it failed.

        Like channel_ready() with a deadline, but gives up at the first TRANSIENT_FAILURE instead of
        letting gRPC's own backoff keep trying: failover is our decision.
        """
        deadline = self._clock() + self.config.connect_timeout_s
        state = channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                return await self._explain_connect_failure(channel, endpoint)
            if state == grpc.ChannelConnectivity.SHUTDOWN:
                return "channel shut down"
            remaining = deadline - self._clock()
            if remaining <= 0:
                return (f"no connection within {self.config.connect_timeout_s:g} s "
                        "(central unreachable or not answering the TLS handshake)")
            await _within(channel.wait_for_state_change(state), remaining)
            state = channel.get_state(try_to_connect=True)
        return ""

    async def _explain_connect_failure(self, channel: grpc.aio.Channel, endpoint: str) -> str:
        """gRPC's reason for the failed connection, made specific for the TLS cases."""
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            await stub.Check(health_pb2.HealthCheckRequest(service=self.config.health_service),
                             timeout=self.config.probe_timeout_s, wait_for_ready=False)
            return ""
        except grpc.aio.AioRpcError as exc:
            detail = exc.details() or exc.code().name
        if self._credentials is None:
            return detail
        tls_failed = any(word in detail for word in _TLS_WORDS)
        if tls_failed or "Socket closed" in detail:
            # gRPC's text rarely says which side refused; a plain ssl handshake can.
            diagnosis = await asyncio.to_thread(diagnose_tls, endpoint, self.config)
            if diagnosis:
                return diagnosis
        return f"TLS handshake failed: {detail}" if tls_failed else detail

    # ---- the stream's tasks -------------------------------------------------------------

    async def _sender(self, session: _Session) -> None:
        """Read pending rows after the cursor, encode them on the store thread, write them in order.

        The next batch is read while the current one waits for a window slot, so a slot that
        frees is filled at once.
        """
        # Acks of an earlier session may still be being marked: let that finish first, or those
        # records would be read and re-sent (harmless, the central de-duplicates, but wasteful).
        await self._in_thread(self._writer, _nothing)
        cursor = 0
        window = self.config.max_in_flight_batches
        upcoming: asyncio.Future | None = None
        try:
            while True:
                if upcoming is None:
                    upcoming = self._read_batch(cursor)
                prepared = await upcoming
                upcoming = None
                self._progress()
                if prepared is None:
                    if not session.inflight:
                        # Caught up: rescan from the start next time, so records put back in the
                        # outbox below the cursor (replayed dead letters) are found without a reconnect.
                        cursor = 0
                    await _within(self._wake_event.wait(), self.config.poll_interval_s)
                    continue
                cursor = prepared.last_id
                if prepared.unsendable:
                    self._count_unsendable(prepared)
                if not prepared.ids:
                    continue
                upcoming = self._read_batch(cursor)
                while len(session.inflight) >= window or session.draining:
                    session.slot_freed.clear()
                    await session.slot_freed.wait()
                session.inflight[prepared.batch_id] = _InFlight(prepared.batch_id, prepared.ids,
                                                                prepared.keys)
                self.in_flight_peak = max(self.in_flight_peak, len(session.inflight))
                session.unanswered_sent_at.append(self._clock())
                await session.call.write(prepared.payload)
                self.batches_sent += 1
        finally:
            if upcoming is not None:
                upcoming.cancel()

    def _read_batch(self, cursor: int) -> asyncio.Future:
        self._wake_event.clear()        # a wake() from now on is seen by the wait that follows
        batch_id = self._next_batch_id
        self._next_batch_id += 1
        return asyncio.ensure_future(self._in_thread(self._reader, self._prepare_batch, cursor, batch_id))

    async def _receiver(self, session: _Session) -> None:
        """Hand every response to the acker as raw bytes; decoding happens on the store thread."""
        while True:
            raw = await session.call.read()
            if raw is grpc.aio.EOF:
                code = await session.call.code()
                details = await session.call.details()
                raise _SessionEnded(f"central ended the stream ({code.name}: {details})" if details
                                    else "central ended the stream")
            session.last_response_at = self._clock()
            if session.unanswered_sent_at:
                session.unanswered_sent_at.popleft()
            session.responses.append(raw)
            session.responses_ready.set()

    async def _acker(self, session: _Session) -> None:
        """Apply acks to the store in as few transactions as the responses allow."""
        while True:
            await session.responses_ready.wait()
            session.responses_ready.clear()
            raws, session.responses = session.responses, []
            if not raws:
                continue
            result = await self._in_thread(self._writer, self._apply_acks, raws, dict(session.inflight))
            for batch_id in result.batch_ids:
                session.inflight.pop(batch_id, None)
            self._count_acks(result, session)
            session.slot_freed.set()
            if result.error:
                raise _SessionEnded(f"protocol error: {result.error}")

    async def _ack_watch(self, session: _Session) -> None:
        """A central that takes batches and never answers is as dead as one that refuses them."""
        limit = self.config.ack_timeout_s
        while True:
            await asyncio.sleep(_WATCH_INTERVAL_S)
            if not session.unanswered_sent_at:
                continue
            waiting_since = max(session.unanswered_sent_at[0], session.last_response_at)
            silent = self._clock() - waiting_since
            if silent > limit:
                raise _SessionEnded(f"no acknowledgement for {silent:.1f} s with "
                                    f"{len(session.unanswered_sent_at)} batch(es) in flight (central silent)")

    async def _prober(self, probes: dict) -> int:
        """While on a worse endpoint, health-check the better ones; return the one to fail back to."""
        while True:
            targets = self._selector.probe_targets()
            if not targets:
                await asyncio.sleep(3600)
                continue
            for index in targets:
                if index not in probes:
                    probes[index] = self._make_channel(self._selector.endpoints[index])
                healthy = await self._probe(probes[index])
                self._selector.record_probe(index, healthy, self._clock())
            target = self._selector.failback_target(self._clock())
            if target is not None:
                return target
            await asyncio.sleep(self.config.probe_interval_s)

    async def _probe(self, channel: grpc.aio.Channel) -> bool:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=self.config.health_service),
                                     timeout=self.config.probe_timeout_s, wait_for_ready=False)
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    # ---- bookkeeping on the loop --------------------------------------------------------

    def _count_acks(self, result: _AckResult, session: _Session) -> None:
        delivered = result.stored + result.duplicates
        if delivered or result.rejected:
            self.last_ack_at = _utc_now_iso()
        session.acked += delivered + result.rejected
        self.acked_total += delivered
        self.stored_total += result.stored
        self.duplicates_total += result.duplicates
        self.rejected_total += result.rejected
        if result.rejected:
            log_now, suppressed = self._bursts.hit("rejected")
            if log_now:
                more = f"; {suppressed} more rejecting response(s) since the last line" if suppressed else ""
                log.warning("central %s rejected %d record(s), kept in the dead-letter table "
                            "(first: %s)%s", session.endpoint, result.rejected,
                            mask_text(result.first_reject), more)
        self._progress()

    def _count_unsendable(self, prepared: _Prepared) -> None:
        self.unsendable_total += prepared.unsendable
        self.rejected_total += prepared.unsendable
        log_now, suppressed = self._bursts.hit("unsendable")
        if log_now:
            more = f"; {suppressed} more such batch(es) since the last line" if suppressed else ""
            log.error("%d record(s) cannot be encoded for the central, dead-lettered (first: %s)%s",
                      prepared.unsendable, mask_text(prepared.first_unsendable), more)

    def _progress(self) -> None:
        """Move last_progress, unless a store thread is stuck (then the watchdog should notice)."""
        now = self._clock()
        if all(now - started < _STORE_STUCK_S for started in self._store_jobs.values()):
            self.last_progress = now

    async def _heartbeat(self) -> None:
        """Keep last_progress moving while the loop runs this task and no store job is stuck.

        The watchdog then restarts the daemon for a wedged store thread or a blocked loop, but not
        for a central that is merely slow or unreachable (that is retried, and shown in status()).
        """
        while True:
            await asyncio.sleep(_HEARTBEAT_S)
            self._progress()

    def _set_error(self, where: str, message: str) -> None:
        """Record the error for status(); log it only when it changes, not on every retry."""
        self.last_error = message
        if self._logged_errors.get(where) != message:
            self._logged_errors[where] = message
            log.warning("%s", message)

    # ---- store thread -------------------------------------------------------------------

    async def _in_thread(self, executor: ThreadPoolExecutor, fn, *args):
        future = self._loop.run_in_executor(executor, fn, *args)
        self._store_jobs[id(future)] = self._clock()
        future.add_done_callback(lambda f: self._store_jobs.pop(id(f), None))
        try:
            return await future
        except Exception as exc:      # noqa: BLE001 - sqlite3, disk, a broken factory: all ours
            raise _LocalFailure(f"store: {type(exc).__name__}: {exc}") from exc

    def _store_(self):
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self._store_factory()
        return store

    def _close_store(self) -> None:
        store = getattr(self._local, "store", None)
        self._local.store = None
        close = getattr(store, "close", None)
        if close is not None:
            close()

    def _prepare_batch(self, cursor: int, batch_id: int) -> _Prepared | None:
        store = self._store_()
        rows = store.pending(after_id=cursor, limit=self.config.batch_size)
        if not rows:
            self._refresh_backlog(force=True)     # cheap: the outbox is (nearly) empty
            return None
        request, failed = convert.batch_request(batch_id, (record for _, record in rows))
        ids = tuple(cdr_id for cdr_id, _ in rows)
        keys = tuple(record.key for _, record in rows)
        if failed:
            bad = {exc.key: exc.reason for exc in failed}
            store.mark_rejected([(cdr_id, f"not sendable: {bad[key]}")
                                 for cdr_id, key in zip(ids, keys) if key in bad])
            kept = [(cdr_id, key) for cdr_id, key in zip(ids, keys) if key not in bad]
            ids, keys = tuple(i for i, _ in kept), tuple(k for _, k in kept)
        self._refresh_backlog()
        return _Prepared(batch_id=batch_id, ids=ids, keys=keys, payload=request.SerializeToString(),
                         last_id=rows[-1][0], unsendable=len(failed),
                         first_unsendable=str(failed[0]) if failed else "")

    def _apply_acks(self, raws: list[bytes], inflight: dict[int, _InFlight]) -> _AckResult:
        """Check each response against its batch and mark the store, one transaction per kind."""
        delivered: list[int] = []
        rejected: list[tuple[int, str]] = []
        done: list[int] = []
        stored = duplicates = 0
        first_reject = error = ""
        for raw in raws:
            try:
                response = sync_pb2.SyncResponse.FromString(raw)
            except Exception as exc:      # noqa: BLE001 - any decode failure is the central's fault
                error = f"undecodable response ({exc})"
                break
            batch = inflight.get(response.batch_id)
            if batch is None:
                error = f"response for unknown batch {response.batch_id}"
                break
            problem = _check_acks(batch, response)
            if problem:
                error = problem
                break
            for cdr_id, ack in zip(batch.ids, response.acks):
                status = ack.status
                if status == sync_pb2.STORED:
                    delivered.append(cdr_id)
                    stored += 1
                elif status == sync_pb2.DUPLICATE:
                    delivered.append(cdr_id)
                    duplicates += 1
                else:
                    reason = ack.reason or "rejected by the central (no reason given)"
                    rejected.append((cdr_id, reason))
                    if not first_reject:
                        first_reject = f"{ack.key}: {reason}"
            done.append(batch.batch_id)
        store = self._store_()
        if delivered:
            store.mark_delivered(delivered)
        if rejected:
            store.mark_rejected(rejected)
        # Keep the count current between the (throttled) full refreshes.
        count, oldest = self._backlog
        count = max(0, count - len(delivered) - len(rejected))
        self._backlog = (count, oldest if count else None)
        self._refresh_backlog()
        return _AckResult(batch_ids=tuple(done), stored=stored, duplicates=duplicates,
                          rejected=len(rejected), first_reject=first_reject, error=error)

    def _refresh_backlog(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._backlog_at >= _BACKLOG_REFRESH_S:
            self._backlog = self._store_().backlog()
            self._backlog_at = now


def _check_acks(batch: _InFlight, response: sync_pb2.SyncResponse) -> str:
    """"" when the response has one valid ack per record of the batch, in order; else what is wrong."""
    acks = response.acks
    if len(acks) != len(batch.keys):
        return f"batch {batch.batch_id}: {len(acks)} acks for {len(batch.keys)} records"
    for index, (key, ack) in enumerate(zip(batch.keys, acks)):
        if ack.key != key:
            return f"batch {batch.batch_id}: ack {index} is for another record than the one sent"
        if ack.status not in (sync_pb2.STORED, sync_pb2.DUPLICATE, sync_pb2.REJECTED):
            return f"batch {batch.batch_id}: ack {index} has status {ack.status}"
    return ""


def _nothing() -> None:
    pass


def _call_soon(loop: asyncio.AbstractEventLoop, callback) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:        # the loop closed meanwhile: run() is over, nothing to tell it
        pass


async def _within(awaitable, timeout: float) -> bool:
    """Await with a time limit; False on timeout.

    asyncio.timeout rather than wait_for: on Python 3.11, wait_for can swallow a cancellation that
    arrives just as the inner await finishes, and then stop() would not stop the loop.
    """
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await awaitable
        return True
    except TimeoutError:
        return False


async def _cancel_all(tasks) -> None:
    for task in tasks:
        task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=5.0)
    if stuck:
        log.error("%d task(s) did not stop when cancelled: %s", len(stuck),
                  ", ".join(task.get_name() for task in stuck))


def _utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, asyncio.InvalidStateError):
        return "stream closed while writing"
    return str(exc) or type(exc).__name__
