"""Recording uploads to the central: a channel of their own, a few segments at a time, resumable, with failover."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Awaitable, Callable

import grpc

from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.ops.masking import mask_text
from appliance.store.uploads import MISSING, REJECTED, UPLOADED, SegmentWork, local_path
from appliance.sync.aio import Lifetime, cancel_all
from appliance.sync.config import CentralConfig
from appliance.sync.connect import Connector
from appliance.sync.endpoints import EndpointSelector
from appliance.sync.failover import LocalFailure, LoopHooks, Outcome, endpoint_loop, probe_round
from appliance.sync.tls import load_credentials
from appliance.sync.upload_stream import COMPLETE, RETRY, CentralTrouble, Pacer, SegmentUpload, Verdict
from appliance.sync.uploadwork import UploadWork

log = logging.getLogger("appliance.uploads")

_WORK_BATCH = 50


class UploadClient:
    """Uploads the segments of delivered records (their outbox row gone, so the central can check each
    SHA-256 against the record) and deletes local copies `keep_after_upload_s` after the central
    acknowledged them.

    Same endpoints, mTLS credentials and failover rules as the CDR sync, but a channel of its own, at
    most `concurrency` segments at a time, chunks paced to `bytes_per_s` in all, file reads on threads
    and store work on a thread of its own: uploads never slow CDR sync or the event loop. The central's
    verdicts: UPLOAD_COMPLETE settles a segment; UPLOAD_RETRY_LATER backs off; UPLOAD_REJECTED keeps the
    file, raises an alarm (log line, counter, status) and never offers that segment again.
    """

    def __init__(self, config: CentralConfig, store_factory: Callable[[], object], site_id: str,
                 recordings_dir: str | Path, *, keep_after_upload_s: float = 0.0, concurrency: int = 2,
                 chunk_bytes: int = 256 * 1024, bytes_per_s: float = 4 * 1024 * 1024,
                 answer_timeout_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time, rand: Callable[[], float] = random.random,
                 store_writes: Callable | None = None):
        if not config.endpoints:
            raise ValueError("uploads: at least one central endpoint is required")
        if concurrency < 1 or keep_after_upload_s < 0:
            raise ValueError("uploads: concurrency >= 1 and keep_after_upload_s >= 0")
        self.config, self.site_id = config, site_id
        self.directory = Path(recordings_dir)
        self.keep_after_upload_s = keep_after_upload_s
        self.concurrency, self.chunk_bytes, self.answer_timeout_s = concurrency, chunk_bytes, answer_timeout_s
        self.clock, self._now, self._rand = clock, now, rand
        self.connector = Connector(config, None if config.plaintext else load_credentials(config), clock)
        self.selector = EndpointSelector(
            config.endpoints, failback_after_s=config.failback_after, rand=rand,
            backoff=BackoffPolicy(base_s=config.reconnect_delay, cap_s=config.reconnect_delay_max))
        self.pacer = Pacer(bytes_per_s, clock)
        self.work = UploadWork(store_factory, self.directory, keep_after_upload_s, clock=clock, now=now,
                               writes=store_writes)
        self._retry = Backoff(BackoffPolicy(base_s=1.0, cap_s=60.0), rand)
        self._paused_until = float("-inf")                # after UPLOAD_RETRY_LATER: no new offers before
        self._not_before: dict[tuple[int, int], float] = {}
        self._queue: deque[SegmentWork] = deque()
        self._sweep = 0                                   # where the next look for work continues
        self._running: dict[asyncio.Task, SegmentWork] = {}
        self._productive = False
        self._logged_errors: dict[str, str] = {}
        self._life = Lifetime()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._wake_event: asyncio.Event | None = None
        self._store_thread: ThreadPoolExecutor | None = None
        self._file_threads: ThreadPoolExecutor | None = None
        # status
        self.connected = False
        self.uploaded_total = self.uploaded_bytes_total = self.bytes_sent_total = self.resumed_total = 0
        self.rejected_total = self.missing_total = self.retry_later_total = 0
        self.last_error = self.last_problem = ""

    # ---- public API ------------------------------------------------------------------------

    async def run(self) -> None:
        """Upload until stop(). Central or network trouble is retried and reported, never raised."""
        self._stop_event = self._life.begin()
        self._loop, self._wake_event = self._life.loop, asyncio.Event()
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-store")
        self._file_threads = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="upload-file")
        tasks = (asyncio.create_task(self._main(), name="uploads-main"),
                 asyncio.create_task(self._housekeeper(), name="uploads-housekeeping"),
                 asyncio.create_task(self._stop_event.wait(), name="uploads-stop-wait"))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_all(tasks)
            try:
                await self._in_store(self.work.close)
            except LocalFailure as exc:
                log.warning("uploads: %s", exc)
            finally:
                for executor in (self._store_thread, self._file_threads):
                    executor.shutdown(wait=True)
                self.connected = False
                self._life.end()
        for task in tasks[:2]:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()

    def stop(self) -> Awaitable[None]:
        """Ask run() to finish. Safe from any thread; await the result to wait until it has."""
        return self._life.stop()

    def wake(self) -> None:
        """Records were delivered: look for segments to upload now rather than at the next poll."""
        self._life.set_soon(self._wake_event)

    def status(self) -> dict:
        work = self.work
        segments, nbytes, oldest = work.backlog
        return {
            "component": "uploads",
            "active_endpoint": self.selector.active_endpoint,
            "connected": self.connected,
            "backlog_segments": segments,
            "backlog_bytes": nbytes,
            "oldest_not_uploaded_age_s": None if oldest is None else round(max(0.0, self._now() - oldest), 3),
            "uploading": len(self._running),
            "rate_limit_bytes_per_s": self.pacer.bytes_per_s,
            "chunk_bytes": self.chunk_bytes,
            "uploaded": work.settled.get(UPLOADED, 0),
            "rejected": work.settled.get(REJECTED, 0),
            "missing": work.settled.get(MISSING, 0),
            "uploaded_total": self.uploaded_total,
            "uploaded_bytes_total": self.uploaded_bytes_total,
            "bytes_sent_total": self.bytes_sent_total,
            "resumed_total": self.resumed_total,
            "rejected_total": self.rejected_total,
            "missing_total": self.missing_total,
            "retry_later_total": self.retry_later_total,
            "local_deleted_total": work.deleted_total,
            "work_looks": work.looks,
            "housekeeping_passes": work.passes,
            "failovers": self.selector.failovers,
            "failed_attempts": self.selector.failures,
            "last_error": self.last_error,
            "last_problem": self.last_problem,
            "problems": work.problems,
        }

    # ---- the endpoint loop -----------------------------------------------------------------

    async def _main(self) -> None:
        await endpoint_loop(self.selector, self._stop_event, self._attempt, LoopHooks(
            attempted=lambda: None, failing_back=self._failing_back, local_failure=self._local_failure,
            remote_failure=self._remote_failure), self._rand)

    def _failing_back(self, endpoint: str, better: str) -> None:
        log.info("uploads: failing back from %s to %s", endpoint, better)

    def _local_failure(self, error: str) -> None:
        self._set_error("store", f"uploads: {error}")

    async def _remote_failure(self, endpoint: str, error: str, moved_on: bool, delay: float) -> None:
        self._set_error(endpoint, f"uploads to central {endpoint}: {error}")

    async def _attempt(self, endpoint: str) -> Outcome:
        channel = self.connector.channel(endpoint)
        probes: dict[int, grpc.aio.Channel] = {}
        self._productive = False
        self._sweep = 0
        self._queue.clear()
        try:
            error = await self.connector.connect(channel, endpoint)
            if error:
                return Outcome(error=error)
            self.selector.on_connected()
            self.connected = True
            self._logged_errors.clear()
            self.last_error = ""
            log.info("uploading recordings to central %s", endpoint)
            return await self._serve(channel, probes)
        except LocalFailure as exc:
            return Outcome(local_error=str(exc), productive=self._productive)
        finally:
            self.connected = False
            if self._running:
                await cancel_all(list(self._running))
                self._running.clear()
            for probe in probes.values():
                await probe.close()
            await channel.close()

    async def _serve(self, channel: grpc.aio.Channel, probes: dict) -> Outcome:
        """Keep up to `concurrency` uploads going until the endpoint fails or a better one is back."""
        next_probe = self.clock()
        while True:
            if self.selector.probe_targets() and self.clock() >= next_probe:
                target = await probe_round(self.selector, self.connector, probes, self.clock)
                next_probe = self.clock() + self.config.probe_interval_s
                if target is not None:
                    return Outcome(productive=self._productive, failback_to=target)
            more = await self._fill(channel)
            self._wake_event.clear()
            timeout = 0.0 if more else self.config.poll_interval_s
            if self._paused_until > self.clock():
                timeout = min(timeout, self._paused_until - self.clock())
            if self.selector.probe_targets():
                timeout = min(timeout, max(0.0, next_probe - self.clock()))
            waiter = asyncio.ensure_future(self._wake_event.wait())
            try:
                done, _ = await asyncio.wait({waiter, *self._running}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            for task in done - {waiter}:
                item = self._running.pop(task)
                try:
                    verdict = task.result()
                except CentralTrouble as exc:
                    return Outcome(error=str(exc), productive=self._productive)
                except Exception as exc:         # noqa: BLE001 - a bug must not stop uploads; say so loudly
                    log.exception("uploads: unexpected error uploading %s", item.name)
                    verdict = Verdict(RETRY, f"internal error: {type(exc).__name__}: {exc}")
                await self._settle(item, verdict)

    async def _fill(self, channel: grpc.aio.Channel) -> bool:
        """Start uploads in free slots, looking for work at most once; True when a slot is still free
        and the look stopped before the end (look again at once)."""
        if self._paused_until > self.clock():
            return False
        looked = False
        while len(self._running) < self.concurrency:
            item = self._next_queued()
            if item is None:
                if looked:
                    break
                looked = True
                busy = {*(w.ident for w in self._running.values()), *self._not_before}
                found = await self._in_store(self.work.find_work, self._sweep, _WORK_BATCH, busy)
                self._sweep = found.next_from
                self._queue.extend(w for w in found.work if w.ident not in busy)
                continue
            self._running[asyncio.ensure_future(self._upload(channel, item))] = item
        return len(self._running) < self.concurrency and self._sweep != 0

    async def _upload(self, channel: grpc.aio.Channel, item: SegmentWork) -> Verdict:
        try:
            path = local_path(self.directory, item.name)
        except ValueError as exc:
            return Verdict(REJECTED, str(exc))
        upload = SegmentUpload(channel, item, path, self.site_id, in_thread=self._in_files, pacer=self.pacer,
                               chunk_bytes=self.chunk_bytes, timeout_s=self.answer_timeout_s, on_sent=self._sent)
        try:
            return await upload.run()
        except OSError as exc:               # our own file: try again later, and say so
            return Verdict(RETRY, f"local file {item.name}: {exc.strerror or exc}")

    def _next_queued(self) -> SegmentWork | None:
        now = self.clock()
        for ident, due in list(self._not_before.items()):
            if due <= now:
                del self._not_before[ident]
        running = {w.ident for w in self._running.values()}
        while self._queue:
            item = self._queue.popleft()
            if item.ident not in self._not_before and item.ident not in running:
                return item
        return None

    def _sent(self, nbytes: int) -> None:
        self.bytes_sent_total += nbytes
        self._productive = True

    # ---- verdicts --------------------------------------------------------------------------

    async def _settle(self, item: SegmentWork, verdict: Verdict) -> None:
        where = f"recording {mask_text(item.call_key)} segment {item.index} ({item.name})"
        if verdict.kind == RETRY:
            self.retry_later_total += 1
            delay = self._retry.next()
            self._paused_until = self.clock() + delay
            self._not_before[item.ident] = self._paused_until
            self.last_error = f"{where}: central says retry later: {verdict.reason}"
            log.debug("%s; next offer in %.1f s", self.last_error, delay)
            return
        self._retry.reset()
        self._productive = True
        if verdict.kind == COMPLETE:
            state, reason = UPLOADED, ""
            self.uploaded_total += 1
            self.uploaded_bytes_total += item.size
            self.resumed_total += verdict.resumed_at > 0
        else:
            state, reason = (REJECTED if verdict.kind == REJECTED else MISSING), verdict.reason
            self.rejected_total += state == REJECTED
            self.missing_total += state == MISSING
            self.last_problem = f"{where} {state}: {mask_text(reason)}"
            log.error("ALARM %s; %s", self.last_problem, "the local file is kept and not offered again"
                      if state == REJECTED else "not offered again")
        await self._in_store(self.work.record, item, state, reason)

    # ---- housekeeping (store thread) -------------------------------------------------------

    async def _housekeeper(self) -> None:
        """Deletes local copies that are due and refreshes the figures, connected to a central or not."""
        interval = max(0.2, min(self.config.poll_interval_s, 1.0))
        while True:
            try:
                await self._in_store(self.work.housekeep)
            except LocalFailure as exc:
                self._set_error("store", f"uploads: {exc}")
            await asyncio.sleep(interval)

    # ---- threads ---------------------------------------------------------------------------

    async def _in_store(self, fn, *args):
        try:
            return await self._loop.run_in_executor(self._store_thread, fn, *args)
        except Exception as exc:      # noqa: BLE001 - sqlite3, disk, a broken factory: all ours
            raise LocalFailure(f"store: {type(exc).__name__}: {exc}") from exc

    async def _in_files(self, fn, *args):
        return await self._loop.run_in_executor(self._file_threads, fn, *args)

    def _set_error(self, where: str, message: str) -> None:
        self.last_error = message
        if self._logged_errors.get(where) != message:
            self._logged_errors[where] = message
            log.warning("%s", message)
