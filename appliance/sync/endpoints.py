"""Pure endpoint selection for sync: failover order, failback after sustained health, back-off between rounds."""
from __future__ import annotations

import random
from typing import Callable

from appliance.common.backoff import BackoffPolicy


class EndpointSelector:
    """Which central to talk to now, and when to retry, fail over and fail back.

    Index 0 is the primary. On a failure the client moves to the next endpoint at once; only after a
    whole round of endpoints has failed does it wait (BackoffPolicy). While on a lower-priority
    endpoint, the client probes the higher ones; once one has been continuously healthy for
    `failback_after_s`, `failback_target()` names it. Nothing here sleeps or reads a real clock.

    `failovers` counts the times delivery moved to another central because one failed: it goes up
    when a session is established (`on_connected`) on an endpoint other than the one the last
    session used (the primary before any session). Retrying the same endpoint, however often, and
    the rounds of an outage in which nothing connects, are not failovers. `failures` counts every
    failed attempt; `failbacks` the returns made by `fail_back()`.
    """

    def __init__(self, endpoints: tuple[str, ...], *, failback_after_s: float = 30.0,
                 backoff: BackoffPolicy = BackoffPolicy(), rand: Callable[[], float] = random.random):
        if not endpoints:
            raise ValueError("at least one central endpoint is required")
        self.endpoints = tuple(endpoints)
        self.failback_after_s = failback_after_s
        self.backoff = backoff
        self._rand = rand
        self.active = 0
        self._failures_in_row = 0       # attempts failed since the last productive session
        self._healthy_since: dict[int, float] = {}
        self.failovers = 0
        self.failbacks = 0
        self.failures = 0
        self._last_connected: int | None = None     # endpoint of the last established session
        self._failing_back = False

    @property
    def active_endpoint(self) -> str:
        return self.endpoints[self.active]

    def on_connected(self) -> None:
        """A session is established on the active endpoint."""
        previous = self.endpoints[0 if self._last_connected is None else self._last_connected]
        if not self._failing_back and self.active_endpoint != previous:
            self.failovers += 1
        self._last_connected = self.active
        self._failing_back = False

    def on_productive(self) -> None:
        """The current session did useful work (connected and acknowledged): forget past failures."""
        self._failures_in_row = 0

    def on_failure(self) -> float:
        """The active endpoint failed (refused, reset, TLS, silent). Moves to the next endpoint.

        Returns how long to wait before trying it: 0 within a round, a backoff delay once every
        endpoint has failed in a row.
        """
        self._failures_in_row += 1
        self.failures += 1
        self._failing_back = False
        self.active = (self.active + 1) % len(self.endpoints)
        # Health must be continuous *while* on the endpoint we would leave: start over.
        self._healthy_since.clear()
        rounds, rest = divmod(self._failures_in_row, len(self.endpoints))
        return self.backoff.delay(rounds, self._rand) if rest == 0 else 0.0

    def probe_targets(self) -> tuple[int, ...]:
        """Indexes of the endpoints better than the active one, best first."""
        return tuple(range(self.active))

    def record_probe(self, index: int, healthy: bool, now: float) -> None:
        if index >= self.active:
            return
        if healthy:
            self._healthy_since.setdefault(index, now)
        else:
            self._healthy_since.pop(index, None)

    def healthy_for(self, index: int, now: float) -> float | None:
        since = self._healthy_since.get(index)
        return None if since is None else now - since

    def failback_target(self, now: float) -> int | None:
        """The best endpoint above the active one that has been healthy for failback_after_s, if any."""
        for index in self.probe_targets():
            since = self._healthy_since.get(index)
            if since is not None and now - since >= self.failback_after_s:
                return index
        return None

    def fail_back(self, index: int) -> None:
        if index >= self.active:
            raise ValueError(f"endpoint {index} is not above the active endpoint {self.active}")
        self.active = index
        self.failbacks += 1
        self._failing_back = True
        self._failures_in_row = 0
        self._healthy_since.clear()
