"""CentralConfig refuses unsafe or unusable settings at start-up, with a message naming what is wrong."""
from __future__ import annotations

import asyncio

import pytest

from appliance.sync import SyncClient, CentralConfig


def test_plaintext_to_a_non_loopback_central_is_refused():
    with pytest.raises(ValueError, match=r"plaintext .* loopback.*10\.1\.2\.3:7443"):
        CentralConfig(endpoints=("127.0.0.1:7443", "10.1.2.3:7443"), plaintext=True)


def test_plaintext_on_loopback_needs_no_certificates():
    config = CentralConfig(endpoints=("127.0.0.1:7443", "localhost:7444", "[::1]:7445"), plaintext=True)
    assert config.endpoints == ("127.0.0.1:7443", "localhost:7444", "[::1]:7445")


def test_mtls_needs_all_three_files():
    with pytest.raises(ValueError, match="cert_file, key_file"):
        CentralConfig(endpoints=("central.example.com:443",), ca_file="/etc/appliance/ca.pem")


def test_endpoints_must_be_host_port():
    with pytest.raises(ValueError, match="HOST:PORT"):
        CentralConfig(endpoints=("central.example.com",), plaintext=True)


def test_at_least_one_endpoint():
    with pytest.raises(ValueError, match="at least one"):
        SyncClient(CentralConfig(endpoints=(), plaintext=True), lambda: None, "site-a")


@pytest.mark.parametrize("field", ["batch_size", "max_in_flight_batches"])
def test_window_and_batch_must_be_positive(field):
    with pytest.raises(ValueError, match=field):
        CentralConfig(endpoints=("127.0.0.1:1",), plaintext=True, **{field: 0})


def test_endpoints_given_as_a_list_become_a_tuple():
    assert CentralConfig(endpoints=["127.0.0.1:1"], plaintext=True).endpoints == ("127.0.0.1:1",)


def test_missing_certificate_file_is_a_start_up_error(tmp_path):
    config = CentralConfig(endpoints=("central.example.com:443",), ca_file=str(tmp_path / "ca.pem"),
                        cert_file=str(tmp_path / "site.pem"), key_file=str(tmp_path / "site.key"))
    with pytest.raises(ValueError, match=r"ca_file .*ca\.pem"):
        SyncClient(config, lambda: None, "site-a")


def test_keepalive_settings_reach_the_channel():
    options = dict(CentralConfig(endpoints=("127.0.0.1:1",), plaintext=True, keepalive_time_s=1.0,
                              keepalive_timeout_s=0.5).channel_options())
    assert options["grpc.keepalive_time_ms"] == 1000
    assert options["grpc.keepalive_timeout_ms"] == 500
    assert options["grpc.http2.ping_timeout_ms"] == 500
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.max_reconnect_backoff_ms"] <= 1000


def test_stop_before_run_returns_at_once():
    client = SyncClient(CentralConfig(endpoints=("127.0.0.1:1",), plaintext=True), lambda: None, "site-a")

    async def scenario():
        await client.stop()
        await asyncio.wait_for(client.run(), 5)      # stop() already asked: run() ends promptly

    asyncio.run(scenario())
    assert client.status()["connected"] is False
