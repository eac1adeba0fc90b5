"""Live events to the central for screen-pop: their own stream, never behind the CDR backlog, a snapshot
after every (re)connect so a subscriber never keeps showing a call that ended meanwhile."""
from __future__ import annotations

import asyncio
import collections
import logging
import random
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import grpc

from appliance import __version__
from appliance.common.backoff import BackoffPolicy
from appliance.common.time import iso_utc, utc_now
from appliance.sync.aio import cancel_all, within
from appliance.sync.config import CentralConfig
from appliance.sync.connect import Connector, describe
from appliance.sync.endpoints import EndpointSelector
from appliance.sync.tls import load_credentials
from appliance.v1 import live_pb2

log = logging.getLogger("appliance.live")

PUBLISH_METHOD = "/appliance.v1.LiveEvents/Publish"
QUEUE_MAX = 10_000              # events waiting while connected but slow; older ones are dropped
LATENCIES_KEPT = 2000


@dataclass(frozen=True)
class _Pending:
    body: object                # a live_pb2 message for one LiveEvent field
    field: str                  # "call" | "agent" | "alert" | "stats" | "snapshot"
    at: str
    made: float                 # clock() when the event happened: for the latency figures


class LivePublisher:
    """Streams LiveEvents to the first healthy central (same endpoints and mTLS as the CDR sync).

    Events arrive from the loop (`call`, `agent`, `alert`, `stats`); while no central is connected
    they are not queued (they would be stale): the snapshot sent first on every connection says
    how everything is now. `snapshot()` is asked for that state each time.
    """

    def __init__(self, config: CentralConfig, site_id: str, snapshot: Callable[[], live_pb2.SiteSnapshot], *,
                 clock: Callable[[], float] = time.monotonic, wallclock: Callable[[], datetime] = utc_now,
                 rand: Callable[[], float] = random.random):
        self.config, self.site_id = config, site_id
        self._snapshot = snapshot
        self._clock, self._wallclock = clock, wallclock
        self._connector = Connector(config, None if config.plaintext else load_credentials(config), clock)
        self._selector = EndpointSelector(config.endpoints, failback_after_s=config.failback_after, rand=rand,
                                          backoff=BackoffPolicy(config.reconnect_delay, config.reconnect_delay_max))
        self._queue: collections.deque[_Pending] = collections.deque()
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._seq = 0
        self._sent_at: dict[int, float] = {}
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCIES_KEPT)
        self.connected = False
        self.endpoint: str | None = None
        self.sent = self.acked = self.dropped = self.snapshots = 0
        self.last_error = ""

    # ---- inputs (on the loop) -------------------------------------------------------------

    def call(self, msg: live_pb2.CallEvent) -> None:
        self._put("call", msg)

    def agent(self, msg: live_pb2.AgentEvent) -> None:
        self._put("agent", msg)

    def alert(self, msg: live_pb2.AlertEvent) -> None:
        self._put("alert", msg)

    def stats(self, msgs: list) -> None:
        for msg in msgs:
            self._put("stats", msg)

    def _put(self, field: str, body) -> None:
        if not self.connected:
            return                                  # the next connection starts with a snapshot
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(_Pending(body, field, iso_utc(self._wallclock(), 3), self._clock()))
        self._ready.set()

    # ---- the connection -------------------------------------------------------------------

    async def run(self) -> None:
        while not self._stop.is_set():
            endpoint = self._selector.active_endpoint
            error = await self._session(endpoint)
            if self._stop.is_set():
                return
            self.last_error = f"{endpoint}: {error}"
            delay = self._selector.on_failure()
            if delay:
                await within(self._stop.wait(), delay)

    async def stop(self) -> None:
        self._stop.set()

    async def _session(self, endpoint: str) -> str:
        channel = self._connector.channel(endpoint)
        try:
            error = await self._connector.connect(channel, endpoint)
            if error:
                return error
            call = channel.stream_stream(PUBLISH_METHOD, request_serializer=None, response_deserializer=None)(
                wait_for_ready=False)
            hello = live_pb2.PublishRequest(hello=live_pb2.PublishHello(site_id=self.site_id,
                                                                        appliance_version=__version__))
            await call.write(hello.SerializeToString())
            self._queue.clear()
            self.connected, self.endpoint = True, endpoint
            await self._write(call, _Pending(self._snapshot(), "snapshot", iso_utc(self._wallclock(), 3),
                                             self._clock()))
            self.snapshots += 1
            self._selector.on_productive()
            log.info("live events: connected to %s, snapshot sent", endpoint)
            tasks = {asyncio.create_task(self._sender(call), name="live-send"),
                     asyncio.create_task(self._receiver(call), name="live-acks"),
                     asyncio.create_task(self._stop.wait(), name="live-stop")}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                exc = done.pop().exception()
                return describe(exc) if exc is not None else "stopped"
            finally:
                await cancel_all(tasks)
                call.cancel()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:
            return describe(exc)
        finally:
            self.connected, self.endpoint = False, None
            self._sent_at.clear()
            await channel.close()

    async def _sender(self, call) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                await self._write(call, self._queue.popleft())

    async def _write(self, call, pending: _Pending) -> None:
        self._seq += 1
        event = live_pb2.LiveEvent(site_id=self.site_id, site_seq=self._seq, at=pending.at)
        getattr(event, pending.field).CopyFrom(pending.body)
        self._sent_at[self._seq] = pending.made
        await call.write(live_pb2.PublishRequest(event=event).SerializeToString())
        self.sent += 1

    async def _receiver(self, call) -> None:
        while True:
            raw = await call.read()
            if raw is grpc.aio.EOF:
                raise ConnectionError("the central ended the live event stream")
            ack = live_pb2.PublishAck.FromString(raw)
            now = self._clock()
            for seq in [s for s in self._sent_at if s <= ack.site_seq]:
                self.latencies.append(now - self._sent_at.pop(seq))
                self.acked += 1

    def status(self) -> dict:
        lat = sorted(self.latencies)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
        return {"connected": self.connected, "endpoint": self.endpoint, "sent": self.sent, "acked": self.acked,
                "dropped": self.dropped, "snapshots": self.snapshots, "last_error": self.last_error,
                "ack_latency_p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
                "ack_latency_p99_ms": round(p99 * 1000, 1) if p99 is not None else None}
