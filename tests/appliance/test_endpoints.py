"""Endpoint selection: failover order, backoff after whole failed rounds, failback after sustained health."""
from __future__ import annotations

import pytest

from appliance.common.backoff import BackoffPolicy
from appliance.common.hostport import is_loopback, split_hostport
from appliance.sync.endpoints import EndpointSelector

PRIMARY, STANDBY, THIRD = "10.0.0.1:7443", "10.0.0.2:7443", "10.0.0.3:7443"


def fixed(value: float):
    return lambda: value


def selector(*endpoints: str, failback_after_s: float = 30.0, rand=fixed(0.5), base=0.5, cap=10.0):
    return EndpointSelector(endpoints or (PRIMARY, STANDBY), failback_after_s=failback_after_s,
                            backoff=BackoffPolicy(base_s=base, cap_s=cap, jitter=0.2), rand=rand)


def test_starts_on_the_primary():
    assert selector().active_endpoint == PRIMARY


def test_a_failure_moves_to_the_next_endpoint_at_once():
    sel = selector(PRIMARY, STANDBY, THIRD)
    assert sel.on_failure() == 0.0
    assert sel.active_endpoint == STANDBY
    assert sel.on_failure() == 0.0
    assert sel.active_endpoint == THIRD
    assert (sel.failures, sel.failovers) == (2, 0)      # nothing connected yet: no failover
    sel.on_connected()
    assert sel.failovers == 1                           # delivery moved off the primary, once


def test_only_a_whole_failed_round_waits_and_the_wait_doubles_up_to_the_cap():
    sel = selector(PRIMARY, STANDBY, base=0.5, cap=3.0)
    delays = [sel.on_failure() for _ in range(12)]
    # with rand() = 0.5 the jitter is zero: rounds wait 0.5, 1, 2, then the cap
    assert delays == [0.0, 0.5, 0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 3.0, 0.0, 3.0]
    assert sel.active_endpoint == PRIMARY     # wrapped round to the top


def test_jitter_spreads_the_delay_both_ways_but_never_beyond_the_cap():
    low = BackoffPolicy(base_s=1.0, cap_s=4.0, jitter=0.2).delay(2, fixed(0.0))
    high = BackoffPolicy(base_s=1.0, cap_s=4.0, jitter=0.2).delay(2, fixed(1.0))
    capped = BackoffPolicy(base_s=1.0, cap_s=4.0, jitter=0.2).delay(10, fixed(1.0))
    assert (low, high, capped) == (pytest.approx(1.6), pytest.approx(2.4), 4.0)


def test_backoff_survives_very_many_rounds():
    assert BackoffPolicy(base_s=0.5, cap_s=10.0).delay(10_000, fixed(0.5)) == 10.0


def test_a_productive_session_resets_the_backoff():
    sel = selector(PRIMARY, STANDBY)
    for _ in range(6):
        sel.on_failure()
    sel.on_productive()
    assert [sel.on_failure(), sel.on_failure()] == [0.0, 0.5]


def test_single_endpoint_retries_itself_with_backoff_and_counts_no_failover():
    sel = selector(PRIMARY)
    sel.on_connected()
    assert [sel.on_failure(), sel.on_failure()] == [0.5, 1.0]
    assert sel.active_endpoint == PRIMARY
    sel.on_connected()
    assert (sel.failovers, sel.failures) == (0, 2)


def test_an_outage_of_every_central_is_no_failover_until_another_one_takes_over():
    sel = selector(PRIMARY, STANDBY)
    sel.on_connected()
    for _ in range(9):                  # both down: round after round of retries
        sel.on_failure()
    assert sel.active_endpoint == STANDBY and sel.failovers == 0
    sel.on_connected()                  # the standby answers: that is the failover
    assert sel.failovers == 1
    sel.on_failure()
    sel.on_failure()                    # the standby drops, the primary is down, the standby again
    sel.on_connected()
    assert sel.failovers == 1           # same central as before: a retry, not a failover


def test_the_same_address_listed_twice_is_a_retry_not_a_failover():
    sel = selector(PRIMARY, PRIMARY)
    sel.on_connected()
    sel.on_failure()
    sel.on_connected()
    assert sel.failovers == 0


def test_moving_back_up_because_the_standby_failed_is_a_failover_and_fail_back_is_not():
    sel = selector(PRIMARY, STANDBY, failback_after_s=5.0)
    sel.on_failure()
    sel.on_connected()                                  # on the standby
    sel.record_probe(0, True, now=0.0)
    sel.fail_back(sel.failback_target(now=5.0))
    sel.on_connected()                                  # the planned return
    assert (sel.failovers, sel.failbacks) == (1, 1)
    sel.on_failure()
    sel.on_connected()                                  # primary lost again: standby
    sel.on_failure()
    sel.on_connected()                                  # standby lost, primary is back
    assert (sel.failovers, sel.failbacks) == (3, 1)


def test_probes_only_the_endpoints_better_than_the_active_one():
    sel = selector(PRIMARY, STANDBY, THIRD)
    assert sel.probe_targets() == ()
    sel.on_failure()
    sel.on_failure()
    assert sel.probe_targets() == (0, 1)


def test_fails_back_only_after_the_primary_was_healthy_for_failback_after_s():
    sel = selector(failback_after_s=30.0)
    sel.on_failure()
    sel.record_probe(0, True, now=100.0)
    sel.record_probe(0, True, now=110.0)
    assert sel.failback_target(now=129.9) is None
    assert sel.failback_target(now=130.0) == 0
    sel.fail_back(0)
    assert sel.active_endpoint == PRIMARY
    assert sel.failbacks == 1


def test_one_failed_probe_restarts_the_healthy_period():
    sel = selector(failback_after_s=30.0)
    sel.on_failure()
    sel.record_probe(0, True, now=100.0)
    sel.record_probe(0, False, now=120.0)
    sel.record_probe(0, True, now=125.0)
    assert sel.failback_target(now=150.0) is None
    assert sel.failback_target(now=155.0) == 0
    assert sel.healthy_for(0, now=155.0) == 30.0


def test_prefers_the_best_healthy_endpoint():
    sel = selector(PRIMARY, STANDBY, THIRD, failback_after_s=5.0)
    sel.on_failure()
    sel.on_failure()
    sel.record_probe(1, True, now=0.0)
    sel.record_probe(0, True, now=1.0)
    assert sel.failback_target(now=5.0) == 1
    assert sel.failback_target(now=6.0) == 0


def test_a_new_failure_forgets_health_seen_before_it():
    sel = selector(PRIMARY, STANDBY, THIRD, failback_after_s=5.0)
    sel.on_failure()
    sel.record_probe(0, True, now=0.0)
    sel.on_failure()                      # standby failed too: on THIRD now, probes start over
    assert sel.failback_target(now=100.0) is None


def test_probe_results_for_worse_endpoints_are_ignored():
    sel = selector(failback_after_s=0.0)
    sel.record_probe(1, True, now=0.0)
    assert sel.failback_target(now=10.0) is None


def test_cannot_fail_back_to_a_worse_endpoint():
    with pytest.raises(ValueError):
        selector().fail_back(1)


def test_needs_an_endpoint():
    with pytest.raises(ValueError):
        EndpointSelector(())


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:7443", ("127.0.0.1", 7443)),
    ("central.example.com:443", ("central.example.com", 443)),
    ("[::1]:50051", ("::1", 50051)),
])
def test_split_endpoint(text, expected):
    assert split_hostport(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":7443", "host:", "host:0", "host:70000", "host:port"])
def test_split_endpoint_refuses_malformed(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_hostport(text)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("localhost", True),
    ("10.0.0.1", False), ("central.example.com", False), ("0.0.0.0", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback
