"""Live fan-out in one process: each site's current state, and subscribers with filters and bounded queues."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from appliance.v1 import live_pb2

OVERFLOW = object()     # put in a subscriber's queue instead of the event that did not fit
CLOSED = object()       # the central is stopping
CALL_ENDED = live_pb2.CALL_ENDED
ALERT_CLEARED = live_pb2.ALERT_CLEARED


@dataclass
class SiteState:
    """What a subscriber needs to show a site as it is now; rebuilt from the site's snapshots and events.

    Every event kind sets the latest state of one thing (a call, an agent, an alert, a queue), so applying
    an event twice, or replaying events already in a snapshot, converges to the same state.
    """
    site_id: str
    site_seq: int = 0
    at: str = ""
    calls: dict[str, live_pb2.CallEvent] = field(default_factory=dict)
    agents: dict[str, live_pb2.AgentEvent] = field(default_factory=dict)
    alerts: dict[tuple[str, str], live_pb2.AlertEvent] = field(default_factory=dict)
    queues: dict[str, live_pb2.QueueStats] = field(default_factory=dict)

    def apply(self, event: live_pb2.LiveEvent) -> None:
        kind = event.WhichOneof("body")
        self.site_seq, self.at = event.site_seq, event.at
        if kind == "call":
            if event.call.type == CALL_ENDED:
                self.calls.pop(event.call.call_key, None)
            else:
                self.calls[event.call.call_key] = event.call
        elif kind == "agent":
            self.agents[event.agent.agent] = event.agent
        elif kind == "alert":
            key = (event.alert.queue, event.alert.kpi)
            if event.alert.level == ALERT_CLEARED:
                self.alerts.pop(key, None)
            else:
                self.alerts[key] = event.alert
        elif kind == "stats":
            self.queues[event.stats.queue] = event.stats
        elif kind == "snapshot":
            snap = event.snapshot
            self.calls = {call.call_key: call for call in snap.calls}
            self.agents = {agent.agent: agent for agent in snap.agents}
            self.alerts = {(alert.queue, alert.kpi): alert for alert in snap.alerts}
            self.queues = {stats.queue: stats for stats in snap.queues}

    def snapshot(self, wanted: "Filter | None" = None) -> live_pb2.LiveEvent:
        """The state as one LiveEvent with a SiteSnapshot body, optionally cut down to a filter."""
        event = live_pb2.LiveEvent(site_id=self.site_id, site_seq=self.site_seq, at=self.at)
        snap = event.snapshot
        snap.SetInParent()
        keep = wanted.allows if wanted is not None else (lambda kind, message: True)
        snap.calls.extend(c for c in self.calls.values() if keep("call", c))
        snap.agents.extend(a for a in self.agents.values() if keep("agent", a))
        snap.alerts.extend(a for a in self.alerts.values() if keep("alert", a))
        snap.queues.extend(q for q in self.queues.values() if keep("stats", q))
        return event


@dataclass(frozen=True)
class Filter:
    """A subscriber's filter. Every non-empty list must match the event's value for that dimension; an
    event kind without the dimension passes it (alerts and statistics have no agent), an event with an
    empty value does not (a call nobody answered yet has no agent). Statistics only with include_stats."""
    sites: frozenset[str]
    queues: frozenset[str]
    agents: frozenset[str]
    include_stats: bool

    @classmethod
    def of(cls, request: live_pb2.SubscribeRequest) -> "Filter":
        return cls(frozenset(request.sites), frozenset(request.queues), frozenset(request.agents),
                   request.include_stats)

    def wants_site(self, site_id: str) -> bool:
        return not self.sites or site_id in self.sites

    def allows(self, kind: str, message) -> bool:
        queues, agents = self.queues, self.agents
        if kind == "call":
            return (not queues or message.queue in queues) and (not agents or message.agent in agents)
        if kind == "agent":
            return (not queues or not queues.isdisjoint(message.queues)) and (not agents or message.agent in agents)
        if kind == "alert":
            return not queues or message.queue in queues
        if kind == "stats":
            return self.include_stats and (not queues or message.queue in queues)
        return True


class Subscription:
    """One subscriber: its filter and a bounded queue of serialized LiveEvents (or OVERFLOW / CLOSED)."""

    def __init__(self, wanted: Filter, limit: int):
        self.filter = wanted
        self.limit = limit
        self.queue: asyncio.Queue = asyncio.Queue()
        self.overflowed = False
        self.overflow_event = asyncio.Event()
        self.delivered = 0

    def offer(self, item) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            self.overflowed = True
            self.overflow_event.set()
            item = OVERFLOW             # the queue itself is unbounded so this marker always fits
        self.queue.put_nowait(item)


class LiveHub:
    """Applies every event (from this replica's publishers or another replica's notifications) to its
    site's state and offers it to each matching subscriber. Never blocks: a subscriber whose queue is
    full is marked overflowed and disconnected by its handler, publishers never wait for subscribers."""

    def __init__(self, queue_limit: int = 1000):
        self.queue_limit = queue_limit
        self.sites: dict[str, SiteState] = {}
        self.subscribers: set[Subscription] = set()
        self.published = 0
        self.overflows = 0

    def state(self, site_id: str) -> SiteState:
        state = self.sites.get(site_id)
        if state is None:
            state = self.sites[site_id] = SiteState(site_id)
        return state

    def publish(self, event: live_pb2.LiveEvent, payload: bytes) -> None:
        """event and its serialized form (sent to subscribers as is when no filter cuts it down)."""
        self.state(event.site_id).apply(event)
        self.published += 1
        kind = event.WhichOneof("body")
        for sub in tuple(self.subscribers):
            wanted = sub.filter
            if not wanted.wants_site(event.site_id):
                continue
            if kind == "snapshot":
                item = payload if _is_everything(wanted) else self.sites[event.site_id].snapshot(
                    wanted).SerializeToString()
            elif wanted.allows(kind, getattr(event, kind)):
                item = payload
            else:
                continue
            sub.offer(item)
            if sub.overflowed:
                self.overflows += 1
                self.subscribers.discard(sub)

    def load(self, snapshots: Iterable[bytes], announce: bool = False) -> None:
        """Stored snapshots (serialized LiveEvents): at start, or after missing notifications, when they
        are also announced to subscribers so they drop what they may have missed."""
        for payload in snapshots:
            event = live_pb2.LiveEvent.FromString(payload)
            if announce:
                self.publish(event, payload)
            else:
                self.state(event.site_id).apply(event)

    def subscribe(self, request: live_pb2.SubscribeRequest) -> Subscription:
        """A new subscriber; its queue starts with the current snapshot of every matching site."""
        sub = Subscription(Filter.of(request), self.queue_limit)
        for site_id in sorted(self.sites):
            if sub.filter.wants_site(site_id):
                sub.queue.put_nowait(self.sites[site_id].snapshot(sub.filter).SerializeToString())
        sub.limit += sub.queue.qsize()          # the opening snapshots do not count against the limit
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def close(self) -> None:
        for sub in self.subscribers:
            sub.queue.put_nowait(CLOSED)
        self.subscribers.clear()

    def snapshot_payload(self, site_id: str) -> bytes:
        return self.state(site_id).snapshot().SerializeToString()


def _is_everything(wanted: Filter) -> bool:
    return not wanted.queues and not wanted.agents and wanted.include_stats
