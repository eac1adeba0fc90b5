"""Failover and failback between real centrals: kill -9, black hole, refused TLS, nothing listening."""
from __future__ import annotations

import pytest

from appliance.store import Store
from tests.helpers.sync_harness import (SITE, ClientThread, call_record, central_keys,
                                               fill_store, mtls_config, store_stats)
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.waiting import free_port, wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), SITE, extra_sites=())


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory):
    """Another CA, as if a cert from a different deployment (or a test lab) were installed."""
    return make_pki(tmp_path_factory.mktemp("foreign-pki"), SITE, extra_sites=())


def assert_each_central_has_each_key_at_most_once(*centrals: CentralProcess) -> set[str]:
    union: set[str] = set()
    for central in centrals:
        keys = central_keys(central)
        assert len(keys) == len(set(keys)), f"{central.address} stored a key twice"
        union.update(keys)
    return union


def test_primary_killed_mid_stream_standby_takes_the_rest_then_primary_takes_back(pki, tmp_path):
    data = tmp_path / "data"
    keys = fill_store(data, 6000)
    # The primary acks a little slowly so the kill lands in the middle of the drain.
    with CentralProcess(tmp_path / "primary.db", pki=pki, extra_args=("--ack-delay-ms", "10")) as primary, \
            CentralProcess(tmp_path / "standby.db", pki=pki) as standby:
        config = mtls_config(pki, primary.address, standby.address, batch_size=100)
        with ClientThread(config, data) as client:
            wait_for(lambda: client.status()["acked_total"] >= 1000, 15, message="primary under way")
            primary.kill9()
            wait_for(lambda: store_stats(data)["pending"] == 0, 15, message="standby drains the rest")
            after_kill = client.status()
            assert after_kill["active_endpoint"] == standby.address
            assert 0 < len(central_keys(primary)) < len(keys)
            assert set(keys) - set(central_keys(primary)) <= set(central_keys(standby))

            primary.start()                 # same port, same db
            wait_for(lambda: client.status()["active_endpoint"] == primary.address
                     and client.status()["connected"], 15, message="failback to the primary")
            later = fill_store(data, 50, start=6000)
            client.wake()
            wait_for(lambda: store_stats(data)["pending"] == 0, 10, message="records after failback")
            status = client.status()
        union = assert_each_central_has_each_key_at_most_once(primary, standby)
        assert union == set(keys) | set(later)
        assert set(later) <= set(central_keys(primary))
        assert not set(later) & set(central_keys(standby))
    assert status["failovers"] == 1 and status["failbacks"] == 1
    assert status["acked_total"] >= len(keys) + len(later)


def test_black_holed_primary_is_abandoned_for_the_standby(pki, tmp_path, caplog):
    data = tmp_path / "data"
    keys = fill_store(data, 500)
    with CentralProcess(tmp_path / "primary.db", pki=pki) as primary, \
            CentralProcess(tmp_path / "standby.db", pki=pki) as standby, \
            TcpProxy(primary.address, name="test-proxy") as proxy:
        config = mtls_config(pki, proxy.address, standby.address, failback_after=1.0)
        with ClientThread(config, data) as client:
            wait_for(lambda: store_stats(data)["pending"] == 0, 10, message="first drain via the proxy")
            proxy.blackhole()               # packets vanish; no RST, no FIN
            more = fill_store(data, 500, start=500)
            client.wake()
            wait_for(lambda: store_stats(data)["pending"] == 0, 15, message="standby after black hole")
            assert client.status()["active_endpoint"] == standby.address
            assert set(more) <= set(central_keys(standby))

            proxy.resume()                  # the primary is reachable again: fail back
            wait_for(lambda: client.status()["failbacks"] == 1 and client.status()["connected"], 15,
                     message="failback after the black hole healed")
            assert client.status()["active_endpoint"] == proxy.address
        union = assert_each_central_has_each_key_at_most_once(primary, standby)
    assert union == set(keys) | set(more)
    assert f"failing over from {proxy.address}" in caplog.text


def test_client_cert_from_a_foreign_ca_is_refused_with_a_clear_error(pki, foreign_pki, tmp_path):
    data = tmp_path / "data"
    fill_store(data, 5)
    with CentralProcess(tmp_path / "central.db", pki=pki) as central:
        config = mtls_config(pki, central.address, cert_file=str(foreign_pki.sites[SITE].cert),
                             key_file=str(foreign_pki.sites[SITE].key))
        with ClientThread(config, data) as client:
            wait_for(lambda: "client certificate" in client.status()["last_error"], 10,
                     message="a client-certificate error")
            status = client.status()
        assert central_keys(central) == []
    assert "does not accept our client certificate" in status["last_error"]
    assert central.address in status["last_error"]
    assert status["connected"] is False
    assert store_stats(data)["pending"] == 5


def test_central_cert_from_a_foreign_ca_fails_verification(pki, foreign_pki, tmp_path):
    fill_store(tmp_path / "data", 5)
    with CentralProcess(tmp_path / "central.db", pki=foreign_pki) as impostor:
        with ClientThread(mtls_config(pki, impostor.address), tmp_path / "data") as client:
            wait_for(lambda: "failed verification" in client.status()["last_error"], 10,
                     message="an untrusted-central error")
        assert central_keys(impostor) == []
    assert store_stats(tmp_path / "data")["pending"] == 5


def test_nothing_listening_keeps_retrying_until_a_central_appears(pki, tmp_path):
    data = tmp_path / "data"
    keys = fill_store(data, 10)
    primary_port, standby_port = free_port(), free_port()
    config = mtls_config(pki, f"127.0.0.1:{primary_port}", f"127.0.0.1:{standby_port}",
                         reconnect_delay=0.05, reconnect_delay_max=0.2)
    with ClientThread(config, data) as client:
        wait_for(lambda: client.status()["failed_attempts"] >= 4, 10, message="several failed rounds")
        assert client.status()["failovers"] == 0 and client.status()["active_endpoint"] is None
        assert "Connection refused" in client.status()["last_error"]
        assert client.status()["backlog"] == 10       # status shows the backlog while disconnected
        with CentralProcess(tmp_path / "standby.db", pki=pki, port=standby_port) as standby:
            wait_for(lambda: store_stats(data)["pending"] == 0, 10, message="delivery once it is up")
            assert central_keys(standby) == keys
            assert client.status()["active_endpoint"] == standby.address
            assert client.status()["failovers"] == 1      # the one move: primary -> standby


def test_hello_for_another_site_is_refused_and_nothing_is_marked(pki, tmp_path):
    data = tmp_path / "data"
    with Store(data, site_id="site-z") as store:
        store.add([call_record(1, site_id="site-z")])
    with CentralProcess(tmp_path / "central.db", pki=pki) as central:
        config = mtls_config(pki, central.address)       # the certificate says site-a
        with ClientThread(config, data, site_id="site-z") as client:
            wait_for(lambda: "PERMISSION_DENIED" in client.status()["last_error"], 10,
                     message="the central's refusal")
        assert central_keys(central) == []
    with Store(data, site_id="site-z", check=False) as store:
        assert store.backlog()[0] == 1
