"""The endpoint loop the CDR sync and the recording uploads share: attempt the active central, fail back
to a better one once it has stayed healthy, retry the same one after a local (store) failure, fail over
after a remote one. Policy (order, back-off, failback timing) is EndpointSelector's; this only runs it."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable

from appliance.sync.aio import within
from appliance.sync.endpoints import EndpointSelector


class LocalFailure(Exception):
    """Our side failed (the store): retry later on the same endpoint, never fail over for it."""


@dataclass(frozen=True)
class Outcome:
    """How one connection attempt ended."""
    error: str = ""                     # the endpoint failed: fail over
    local_error: str = ""               # the store failed: retry the same endpoint after a delay
    productive: bool = False            # the session did useful work before it ended
    failback_to: int | None = None      # a better endpoint has been healthy long enough


@dataclass(frozen=True)
class LoopHooks:
    """What a client does at each turn of the loop (logging, status); none of them decides anything."""
    attempted: Callable[[], None]                                   # after every attempt
    failing_back: Callable[[str, str], None]                        # (from endpoint, to endpoint)
    local_failure: Callable[[str], None]                            # (error), before the delay
    remote_failure: Callable[[str, str, bool, float], Awaitable[None]]   # (endpoint, error, moved on, delay)


async def endpoint_loop(selector: EndpointSelector, stop: asyncio.Event,
                        attempt: Callable[[str], Awaitable[Outcome]], hooks: LoopHooks,
                        rand: Callable[[], float]) -> None:
    """Run attempts until `stop` is set. Checked each round as well as cancelled by the client: a
    cancellation can be lost (asyncio.wait_for on 3.11 drops one that races a completing await)."""
    local_failures = 0
    while not stop.is_set():
        index = selector.active
        endpoint = selector.active_endpoint
        outcome = await attempt(endpoint)
        hooks.attempted()
        if outcome.failback_to is not None:
            hooks.failing_back(endpoint, selector.endpoints[outcome.failback_to])
            selector.fail_back(outcome.failback_to)
            continue
        if outcome.productive:
            selector.on_productive()
            local_failures = 0
        if outcome.local_error:
            local_failures += 1
            hooks.local_failure(outcome.local_error)
            await within(stop.wait(), selector.backoff.delay(local_failures, rand))
            continue
        delay = selector.on_failure()
        await hooks.remote_failure(endpoint, outcome.error, selector.active != index, delay)
        if delay > 0:
            await within(stop.wait(), delay)


async def probe_round(selector: EndpointSelector, connector, probes: dict, clock: Callable[[], float]) -> int | None:
    """Health-check each better endpoint once (channels kept in `probes`); the one to fail back to, if any."""
    for index in selector.probe_targets():
        if index not in probes:
            probes[index] = connector.channel(selector.endpoints[index])
        selector.record_probe(index, await connector.probe(probes[index]), clock())
    return selector.failback_target(clock())
