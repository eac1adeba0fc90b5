"""One connected Sync stream: the tasks that send batches, read responses, apply acks, watch and probe."""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import grpc

from appliance.sync.aio import cancel_all, nothing, within
from appliance.sync.failover import probe_round
from appliance.sync.storework import InFlight

_WATCH_INTERVAL_S = 0.1


class SessionEnded(Exception):
    """The current stream cannot go on because of the central or the network; the message says why."""


@dataclass
class Session:
    """State of one connected stream; discarded when the stream ends."""
    endpoint: str
    call: grpc.aio.StreamStreamCall
    connected_at: float
    inflight: dict[int, InFlight] = field(default_factory=dict)
    unanswered_sent_at: deque = field(default_factory=deque)
    last_response_at: float = 0.0
    responses: list[bytes] = field(default_factory=list)
    responses_ready: asyncio.Event = field(default_factory=asyncio.Event)
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False
    acked: int = 0


class SessionTasks:
    """The five tasks of one session; the first to finish ends it (an error, or a failback target)."""

    def __init__(self, client: Any, session: Session, probes: dict):
        """`client` is the SyncClient: its store threads, counters and wake-up event."""
        self.client = client
        self.config = client.config
        self.session = session
        self.probes = probes
        self._clock = client.clock

    async def run(self) -> int:
        """Until one task ends: raises its error, or returns the endpoint index to fail back to."""
        session = self.session
        tasks = {
            asyncio.create_task(self._sender(session), name="sync-send"),
            asyncio.create_task(self._receiver(session), name="sync-receive"),
            asyncio.create_task(self._acker(session), name="sync-ack"),
            asyncio.create_task(self._ack_watch(session), name="sync-ack-watch"),
            asyncio.create_task(self._prober(self.probes), name="sync-probe"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finished = done.pop()
            exc = finished.exception()
            if exc is not None:
                raise exc
            target = finished.result()
            await self._drain(session, tasks - {finished})
            return target
        finally:
            await cancel_all(tasks)

    async def _drain(self, session: Session, running: set[asyncio.Task]) -> None:
        """Failback: stop sending and give in-flight batches a moment to be acked (the rest is re-sent)."""
        session.draining = True
        deadline = self._clock() + self.config.drain_timeout_s
        while session.inflight and self._clock() < deadline:
            if any(task.done() for task in running):
                return
            session.slot_freed.clear()
            if not await within(session.slot_freed.wait(), deadline - self._clock()):
                return

    async def _sender(self, session: Session) -> None:
        """Read pending rows after the cursor, encode them on the store thread, write them in order.

        The next batch is read while the current one waits for a window slot, so a slot that
        frees is filled at once.
        """
        # Acks of an earlier session may still be being marked: let that finish first, or those
        # records would be read and re-sent (harmless, the central de-duplicates, but wasteful).
        await self.client.in_writer(nothing)
        cursor = 0
        window = self.config.max_in_flight_batches
        upcoming: asyncio.Future | None = None
        try:
            while True:
                if upcoming is None:
                    upcoming = self._read_batch(cursor)
                prepared = await upcoming
                upcoming = None
                self.client.progress()
                if prepared is None:
                    if not session.inflight:
                        # Caught up: rescan from the start next time, so records put back in the
                        # outbox below the cursor (replayed dead letters) are found without a reconnect.
                        cursor = 0
                    await within(self.client.wake_event.wait(), self.config.poll_interval_s)
                    continue
                cursor = prepared.last_id
                if prepared.unsendable:
                    self.client.count_unsendable(prepared)
                if not prepared.ids:
                    continue
                upcoming = self._read_batch(cursor)
                while len(session.inflight) >= window or session.draining:
                    session.slot_freed.clear()
                    await session.slot_freed.wait()
                session.inflight[prepared.batch_id] = InFlight(prepared.batch_id, prepared.ids, prepared.keys)
                self.client.in_flight_peak = max(self.client.in_flight_peak, len(session.inflight))
                session.unanswered_sent_at.append(self._clock())
                await session.call.write(prepared.payload)
                self.client.batches_sent += 1
        finally:
            if upcoming is not None:
                upcoming.cancel()

    def _read_batch(self, cursor: int) -> asyncio.Future:
        self.client.wake_event.clear()        # a wake() from now on is seen by the wait that follows
        batch_id = self.client.next_batch_id()
        return asyncio.ensure_future(self.client.in_reader(self.client.storework.prepare_batch, cursor, batch_id))

    async def _receiver(self, session: Session) -> None:
        """Hand every response to the acker as raw bytes; decoding happens on the store thread."""
        while True:
            raw = await session.call.read()
            if raw is grpc.aio.EOF:
                code = await session.call.code()
                details = await session.call.details()
                raise SessionEnded(f"central ended the stream ({code.name}: {details})" if details
                                    else "central ended the stream")
            session.last_response_at = self._clock()
            if session.unanswered_sent_at:
                session.unanswered_sent_at.popleft()
            session.responses.append(raw)
            session.responses_ready.set()

    async def _acker(self, session: Session) -> None:
        """Apply acks to the store in as few transactions as the responses allow."""
        while True:
            await session.responses_ready.wait()
            session.responses_ready.clear()
            raws, session.responses = session.responses, []
            if not raws:
                continue
            result = await self.client.in_writer(self.client.storework.apply_acks, raws,
                                                dict(session.inflight))
            for batch_id in result.batch_ids:
                session.inflight.pop(batch_id, None)
            self.client.count_acks(result, session)
            session.slot_freed.set()
            if result.error:
                raise SessionEnded(f"protocol error: {result.error}")

    async def _ack_watch(self, session: Session) -> None:
        """A central that takes batches and never answers is as dead as one that refuses them."""
        limit = self.config.ack_timeout_s
        while True:
            await asyncio.sleep(_WATCH_INTERVAL_S)
            if not session.unanswered_sent_at:
                continue
            waiting_since = max(session.unanswered_sent_at[0], session.last_response_at)
            silent = self._clock() - waiting_since
            if silent > limit:
                raise SessionEnded(f"no acknowledgement for {silent:.1f} s with "
                                    f"{len(session.unanswered_sent_at)} batch(es) in flight (central silent)")

    async def _prober(self, probes: dict) -> int:
        """While on a worse endpoint, health-check the better ones; return the one to fail back to."""
        while True:
            targets = self.client.selector.probe_targets()
            if not targets:
                await asyncio.sleep(3600)
                continue
            target = await probe_round(self.client.selector, self.client.connector, probes, self._clock)
            if target is not None:
                return target
            await asyncio.sleep(self.config.probe_interval_s)
