"""Test clients for LiveEvents (a blocking Publish stream, a Subscribe reader) and builders for live events."""
from __future__ import annotations

import grpc

from appliance.v1 import live_pb2, live_pb2_grpc
from tests.helpers.central_proc import QueuedStream


def call_event(seq: int, call_key: str, kind: int = live_pb2.CALL_RINGING, *, site_id: str = "site-a",
               queue_name: str = "sales", agent: str = "", caller: str = "+15551234567") -> live_pb2.LiveEvent:
    return live_pb2.LiveEvent(site_id=site_id, site_seq=seq, at=f"2026-11-22T12:00:{seq % 60:02d}.000Z",
                              call=live_pb2.CallEvent(call_key=call_key, seq=1, type=kind, line="line1",
                                                      caller=caller, queue=queue_name, agent=agent,
                                                      started_at="2026-11-22T12:00:00Z"))


def agent_event(seq: int, agent: str, state: int = live_pb2.AGENT_AVAILABLE, *, site_id: str = "site-a",
                queues: tuple[str, ...] = ("sales",)) -> live_pb2.LiveEvent:
    return live_pb2.LiveEvent(site_id=site_id, site_seq=seq, at="2026-11-22T12:00:00.000Z",
                              agent=live_pb2.AgentEvent(agent=agent, state=state, queues=queues,
                                                        since="2026-11-22T12:00:00Z"))


def stats_event(seq: int, queue_name: str = "sales", waiting: int = 1, *, site_id: str = "site-a") -> live_pb2.LiveEvent:
    return live_pb2.LiveEvent(site_id=site_id, site_seq=seq, at="2026-11-22T12:00:00.000Z",
                              stats=live_pb2.QueueStats(queue=queue_name, live_available=True, waiting=waiting))


def alert_event(seq: int, queue_name: str = "sales", level: int = live_pb2.ALERT_RAISED, *,
                site_id: str = "site-a") -> live_pb2.LiveEvent:
    return live_pb2.LiveEvent(site_id=site_id, site_seq=seq, at="2026-11-22T12:00:00.000Z",
                              alert=live_pb2.AlertEvent(queue=queue_name, kpi="waiting", level=level, value=5,
                                                        threshold=3, text="5 waiting in sales"))


def snapshot_event(seq: int, *, site_id: str = "site-a", calls=(), agents=(), queues=()) -> live_pb2.LiveEvent:
    return live_pb2.LiveEvent(site_id=site_id, site_seq=seq, at="2026-11-22T12:00:00.000Z",
                              snapshot=live_pb2.SiteSnapshot(calls=[c.call for c in calls],
                                                             agents=[a.agent for a in agents],
                                                             queues=[q.stats for q in queues]))


class Publisher(QueuedStream):
    """A Publish stream: Hello, then events; acks read on demand."""

    def __init__(self, channel: grpc.Channel, site_id: str, *, timeout: float = 30.0):
        super().__init__(live_pb2.PublishRequest(hello=live_pb2.PublishHello(site_id=site_id,
                                                                             appliance_version="test")))
        self._call = live_pb2_grpc.LiveEventsStub(channel).Publish(self.requests(), timeout=timeout)
        self.acked = 0

    def publish(self, *events: live_pb2.LiveEvent) -> None:
        for event in events:
            self.send(live_pb2.PublishRequest(event=event))

    def wait_acked(self, site_seq: int) -> int:
        """Read acks until one covers site_seq; raises grpc.RpcError when the central ends the stream."""
        while self.acked < site_seq:
            self.acked = self.receive().site_seq
        return self.acked


class Subscriber:
    """A Subscribe stream read on demand."""

    def __init__(self, channel: grpc.Channel, *, timeout: float = 30.0, **request):
        self._call = live_pb2_grpc.LiveEventsStub(channel).Subscribe(live_pb2.SubscribeRequest(**request),
                                                                     timeout=timeout)

    def next(self) -> live_pb2.LiveEvent:
        return next(self._call)

    def until(self, predicate, limit: int = 10_000) -> list[live_pb2.LiveEvent]:
        """Events up to and including the first that matches predicate."""
        seen = []
        for _ in range(limit):
            event = self.next()
            seen.append(event)
            if predicate(event):
                return seen
        raise AssertionError(f"no matching event in {limit}")

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
