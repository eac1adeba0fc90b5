"""Deliver every stored CDR to the central exactly once: a gRPC (mTLS) stream with failover and failback."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Awaitable, Callable

import grpc

from appliance import __version__
from appliance.common.backoff import BackoffPolicy
from appliance.common.bursts import BurstLimiter
from appliance.common.time import iso_utc, utc_now
from appliance.ops.masking import mask_text
from appliance.sync import convert
from appliance.sync.aio import Lifetime, cancel_all
from appliance.sync.config import CentralConfig
from appliance.sync.connect import Connector, describe
from appliance.sync.endpoints import EndpointSelector
from appliance.sync.failover import LocalFailure, LoopHooks, Outcome, endpoint_loop
from appliance.sync.session import Session, SessionEnded, SessionTasks
from appliance.sync.storework import AckResult, Prepared, StoreWork
from appliance.sync.tls import load_credentials

__all__ = ["SyncClient", "CentralConfig"]

log = logging.getLogger("appliance.sync")

SYNC_METHOD = "/appliance.v1.CdrSync/Sync"
_SESSION_STABLE_S = 5.0         # a session that lived this long counts as productive even without acks
_HEARTBEAT_S = 0.5
_STORE_STUCK_S = 2.0            # a store job running longer than this stops last_progress
_USES_STORE = (StoreWork.prepare_batch, StoreWork.apply_acks)   # their success proves the store works





class SyncClient:
    """Streams the store's outbox to the first healthy central, in cdr-id order, with a bounded window.

    Store work (reads, marks, protobuf encoding and decoding of big batches) runs on two dedicated
    threads, each with its own Store; the event loop only moves bytes, so device handling on the
    same loop is never held up for long. Delivery is at-least-once on the wire and exactly-once in
    effect: whatever is not acknowledged is re-sent after a reconnect and the central de-duplicates
    on key. A rejected record goes to the store's dead-letter table with the central's reason.
    """

    def __init__(self, config: CentralConfig, store_factory: Callable[[], object], site_id: str, *,
                 clock: Callable[[], float] = time.monotonic, rand: Callable[[], float] = random.random,
                 wallclock: Callable[[], datetime] = utc_now, appliance_version: str = __version__,
                 store_writes: Callable | None = None):
        if not config.endpoints:
            raise ValueError("sync: at least one central endpoint is required")
        self.config = config
        self.site_id = site_id
        self.clock = clock
        self._wallclock = wallclock
        self._rand = rand
        self.connector = Connector(config, None if config.plaintext else load_credentials(config), clock)
        self.storework = StoreWork(store_factory, config.batch_size, clock=clock, writes=store_writes)
        self.selector = EndpointSelector(
            config.endpoints, failback_after_s=config.failback_after, rand=rand,
            backoff=BackoffPolicy(base_s=config.reconnect_delay, cap_s=config.reconnect_delay_max))
        self._hello = convert.hello_request(site_id, appliance_version).SerializeToString()
        self._reader: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._store_jobs: dict[int, float] = {}     # running store-thread jobs -> when submitted
        self._life = Lifetime()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.wake_event: asyncio.Event | None = None
        self._session: Session | None = None
        self._next_batch_id = 1
        self._logged_errors: dict[str, str] = {}     # endpoint (or "store") -> last error logged for it
        self._error_where = ""                       # what last_error is about: an endpoint or "store"
        self._announced: str | None = None           # endpoint whose "connected" line stands
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
        self._stop_event = self._life.begin()
        self._loop = self._life.loop
        self.wake_event = asyncio.Event()
        # Two store threads, each with its own Store: reads and encoding on one, checking and marking
        # acks on the other (through the daemon's store writer when there is one), so the two overlap.
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-store-read")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-store-write")
        main = asyncio.create_task(self._main(), name="sync-main")
        stopper = asyncio.create_task(self._stop_event.wait(), name="sync-stop-wait")
        heartbeat = asyncio.create_task(self._heartbeat(), name="sync-heartbeat")
        try:
            await asyncio.wait((main, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_all((main, stopper, heartbeat))
            for executor in (self._reader, self._writer):
                try:
                    await self._in_thread(executor, self.storework.close_store)
                except LocalFailure as exc:
                    log.warning("%s", exc)
                executor.shutdown(wait=True)
            self._reader = self._writer = None
            self.connected = False
            self._life.end()
        if main.done() and not main.cancelled() and main.exception() is not None:
            raise main.exception()

    def stop(self) -> Awaitable[None]:
        """Ask run() to finish. Safe from any thread; await the result to wait until it has."""
        return self._life.stop()

    def wake(self) -> None:
        """New records are durable in the store: send them now instead of at the next poll."""
        self._life.set_soon(self.wake_event)

    def status(self) -> dict:
        """Plain values for the CLI, metrics and the watchdog.

        active_endpoint is the central a session is established with, None while none is (then
        trying_endpoint names the one being tried); backlog / oldest_unsent_age_s come from the
        store (refreshed about once a second); acked_total counts STORED + DUPLICATE;
        rejected_total includes records we could not encode (unsendable_total); failovers counts
        moves to another central, failed_attempts every attempt that failed; last_progress is
        monotonic and stops moving when a store thread is stuck.
        """
        backlog, oldest = self.storework.backlog
        session = self._session
        connected = self.connected and session is not None
        return {
            "component": "sync",
            "endpoints": list(self.selector.endpoints),
            "active_endpoint": session.endpoint if connected else None,
            "trying_endpoint": None if connected else self.selector.active_endpoint,
            "connected": connected,
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
            "failovers": self.selector.failovers,
            "failbacks": self.selector.failbacks,
            "failed_attempts": self.selector.failures,
            "last_error": self.last_error,
            "last_progress": self.last_progress,
        }

    # ---- the endpoint loop --------------------------------------------------------------

    async def _main(self) -> None:
        await endpoint_loop(self.selector, self._stop_event, self._attempt, LoopHooks(
            attempted=self.progress, failing_back=self._failing_back, local_failure=self._local_failure,
            remote_failure=self._remote_failure), self._rand)

    def _failing_back(self, endpoint: str, better: str) -> None:
        log.info("central %s healthy for %g s: failing back from %s", better, self.config.failback_after, endpoint)
        self._announced = None

    def _local_failure(self, error: str) -> None:
        # Our side failed: the central is fine, so its "connected" line still stands.
        self._set_error("store", error)

    async def _remote_failure(self, endpoint: str, error: str, moved_on: bool, delay: float) -> None:
        self._announced = None
        self._set_error(endpoint, f"central {endpoint}: {error}")
        # Say it once per outage, not on every retry of a long one.
        level = logging.DEBUG if self._retrying_quietly else logging.WARNING
        if moved_on:
            log.log(level, "failing over from %s to %s", endpoint, self.selector.active_endpoint)
        try:
            await self.in_writer(self.storework.refresh_backlog)
        except LocalFailure:
            pass
        if delay > 0:
            log.log(level, "every central failed; retrying with back-off (now %.1f s, "
                    "at most %g s)", delay, self.config.reconnect_delay_max)
            self._retrying_quietly = True

    async def _attempt(self, endpoint: str) -> Outcome:
        """Connect and stream until the session ends."""
        channel = self.connector.channel(endpoint)
        probes: dict[int, grpc.aio.Channel] = {}
        session: Session | None = None
        try:
            error = await self.connector.connect(channel, endpoint)
            if error:
                return Outcome(error=error)
            method = channel.stream_stream(SYNC_METHOD, request_serializer=None,
                                           response_deserializer=None)
            call = method(wait_for_ready=False)
            session = Session(endpoint=endpoint, call=call, connected_at=self.clock())
            session.last_response_at = session.connected_at
            await call.write(self._hello)
            self.sessions += 1
            self.selector.on_connected()        # counted before status() can show the session
            self._session = session
            self.connected = True
            self._central_ok()
            self._retrying_quietly = False
            if self._announced != endpoint:
                log.info("connected to central %s", endpoint)
                self._announced = endpoint
            else:           # back after our own store failed: the central never went away
                log.debug("session with central %s re-established", endpoint)
            target = await SessionTasks(self, session, probes).run()
            return Outcome(failback_to=target, productive=True)
        except LocalFailure as exc:
            return Outcome(local_error=str(exc), productive=self._was_productive(session))
        except (grpc.aio.AioRpcError, SessionEnded, asyncio.InvalidStateError) as exc:
            return Outcome(error=describe(exc), productive=self._was_productive(session))
        except Exception as exc:      # noqa: BLE001 - a bug must not kill delivery; say so loudly
            log.exception("unexpected error in the session with %s", endpoint)
            return Outcome(local_error=f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.connected = False
            self._session = None
            if session is not None:
                session.call.cancel()
            for probe in probes.values():
                await probe.close()
            await channel.close()

    def _was_productive(self, session: Session | None) -> bool:
        return session is not None and (
            session.acked > 0 or self.clock() - session.connected_at >= _SESSION_STABLE_S)

    # ---- bookkeeping on the loop --------------------------------------------------------

    def count_acks(self, result: AckResult, session: Session) -> None:
        delivered = result.stored + result.duplicates
        if delivered or result.rejected:
            self.last_ack_at = iso_utc(self._wallclock(), 3)
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
        self.progress()

    def count_unsendable(self, prepared: Prepared) -> None:
        self.unsendable_total += prepared.unsendable
        self.rejected_total += prepared.unsendable
        log_now, suppressed = self._bursts.hit("unsendable")
        if log_now:
            more = f"; {suppressed} more such batch(es) since the last line" if suppressed else ""
            log.error("%d record(s) cannot be encoded for the central, dead-lettered (first: %s)%s",
                      prepared.unsendable, mask_text(prepared.first_unsendable), more)

    def progress(self) -> None:
        """Move last_progress, unless a store thread is stuck (then the watchdog should notice)."""
        now = self.clock()
        if all(now - started < _STORE_STUCK_S for started in self._store_jobs.values()):
            self.last_progress = now

    async def _heartbeat(self) -> None:
        """Keep last_progress moving while the loop runs this task and no store job is stuck.

        The watchdog then restarts the daemon for a wedged store thread or a blocked loop, but not
        for a central that is merely slow or unreachable (that is retried, and shown in status()).
        """
        while True:
            await asyncio.sleep(_HEARTBEAT_S)
            self.progress()

    def _set_error(self, where: str, message: str) -> None:
        """Record the error for status(); log it only when it changes, not on every retry."""
        self.last_error = message
        self._error_where = where
        if self._logged_errors.get(where) != message:
            self._logged_errors[where] = message
            log.warning("%s", message)

    def _central_ok(self) -> None:
        """A session is up: the centrals' errors are over; a store error stands until the store works."""
        self._logged_errors = {k: v for k, v in self._logged_errors.items() if k == "store"}
        if self._error_where != "store":
            self.last_error = self._error_where = ""

    def _store_ok(self) -> None:
        if self._logged_errors.pop("store", None) is not None:
            log.info("store: working again")
        if self._error_where == "store":
            self.last_error = self._error_where = ""

    # ---- store thread -------------------------------------------------------------------

    async def _in_thread(self, executor: ThreadPoolExecutor, fn, *args):
        future = self._loop.run_in_executor(executor, fn, *args)
        self._store_jobs[id(future)] = self.clock()
        future.add_done_callback(lambda f: self._store_jobs.pop(id(f), None))
        try:
            result = await future
        except Exception as exc:      # noqa: BLE001 - sqlite3, disk, a broken factory: all ours
            raise LocalFailure(f"store: {type(exc).__name__}: {exc}") from exc
        if getattr(fn, "__func__", None) in _USES_STORE:
            self._store_ok()          # a job that always reads or writes the store went through
        return result


    async def in_reader(self, fn, *args):
        """Run store work on the reading thread (reads, encoding)."""
        return await self._in_thread(self._reader, fn, *args)

    async def in_writer(self, fn, *args):
        """Run store work on the marking thread (acks, backlog)."""
        return await self._in_thread(self._writer, fn, *args)

    def next_batch_id(self) -> int:
        batch_id, self._next_batch_id = self._next_batch_id, self._next_batch_id + 1
        return batch_id
