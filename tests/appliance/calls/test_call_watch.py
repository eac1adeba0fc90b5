"""CallWatcher: the tracker's live calls become numbered changes a screen-pop client can follow."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from appliance.calls import CallTracker, DeviceInfo
from appliance.calls.watch import CallWatcher
from firmware_bridge.events import CallConnected, CallEnded, CallerId, Ring

T0 = datetime(2026, 6, 1, 9, tzinfo=timezone.utc)
LINE = DeviceInfo(name="gsm1", kind="gsm", queue="support")


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def run(steps):
    ids = itertools.count(1)
    tracker, watch, changes = CallTracker("site-a", new_id=lambda: f"id{next(ids)}"), CallWatcher(), []
    for t, events, extra in steps:
        finished = []
        for event in (events if isinstance(events, list) else [events]):
            finished += tracker.handle(LINE, event, at(t)) if event is not None else tracker.tick(at(t))
        changes += watch.update(tracker.live_calls(), finished)
        if extra:
            changes += extra(watch)
    return changes, watch


def test_an_answered_call_rings_is_answered_by_its_agent_and_ends_in_order():
    changes, watch = run([
        (0, [Ring(), CallerId("+441632960123")],     # one read from the module: RING and +CLIP
         lambda w: w.agent("site-a/gsm1/id1", "agent_ringing", "anna", "hs-anna")),
        (3, None, lambda w: w.agent("site-a/gsm1/id1", "answered", "anna", "hs-anna")),
        (3.2, CallConnected(), lambda w: w.mute("site-a/gsm1/id1", True)),
        (9, CallEnded("no_carrier"), None),
    ])
    assert [(c.kind, c.seq) for c in changes] == [("ringing", 1), ("agent_ringing", 2), ("answered", 3),
                                                  ("muted", 4), ("ended", 5)]
    answered = changes[2]
    assert (answered.agent, answered.headset, answered.queue, answered.line) == ("anna", "hs-anna", "support", "gsm1")
    assert changes[-1].disposition == "answered" and changes[-1].caller == "+441632960123"
    assert {c.key for c in changes} == {"site-a/gsm1/id1"}
    assert watch.current() == []                                 # nothing in progress any more


def test_a_caller_id_after_the_first_ring_is_announced_again_with_the_number():
    changes, _ = run([(0, Ring(), None), (0.2, CallerId("+441632960123"), None)])
    assert [(c.kind, c.seq, c.caller) for c in changes] == [("ringing", 1, ""), ("ringing", 2, "+441632960123")]


def test_a_caller_who_gives_up_ends_as_abandoned_and_the_snapshot_forgets_the_call():
    changes, watch = run([(0, Ring(), None), (5, Ring(), None)])
    assert [c.kind for c in changes] == ["ringing"] and len(watch.current()) == 1
    ended, _ = run([(0, Ring(), None), (5, Ring(), None), (20, None, None)])   # rings stopped
    assert [c.kind for c in ended] == ["ringing", "ended"] and ended[-1].disposition == "abandoned"
