"""Site identity: mTLS decides which site a stream speaks for; plaintext is loopback-only and trusts Hello."""
from __future__ import annotations

import datetime as dt

import grpc
import pytest

from appliance.central.server import CentralServer
from appliance.ops.pki import issue_site_cert
from appliance.v1 import sync_pb2, sync_pb2_grpc
from tests.helpers.central_proc import CentralProcess, SyncStream, make_pki, make_record
from tests.helpers.waiting import wait_for


@pytest.fixture(scope="module")
def central(pki, tmp_path_factory):
    """At the default log level: the central logs why it refused a TLS handshake, which is what an operator reads."""
    db = tmp_path_factory.mktemp("central-tls") / "central.db"
    with CentralProcess(db, pki=pki) as proc:
        yield proc


def rows_for(central: CentralProcess, key: str) -> list[str]:
    with central.open_store() as store:
        return [r.site_id for r in store.records() if r.key == key]


def assert_handshake_refused(central, credentials, key: str) -> None:
    """The site sees UNAVAILABLE (TLS 1.3 reports a refused client cert as a closed socket) and nothing is stored."""
    with central.channel(credentials=credentials) as channel, SyncStream(channel, "site-a", timeout=10) as stream:
        with pytest.raises(grpc.RpcError) as err:
            stream.batch(1, [make_record(key)])
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert rows_for(central, key) == []


def test_a_client_cert_from_another_ca_is_refused_at_the_handshake(central, pki, tmp_path):
    stranger = make_pki(tmp_path / "other-pki", "site-a", extra_sites=())
    forged = pki.credentials(cert=stranger.sites["site-a"])     # trusts the real CA, presents a foreign cert
    assert_handshake_refused(central, forged, "forged-1")
    wait_for(lambda: "WARNING appliance.central: TLS handshake refused: CERTIFICATE_VERIFY_FAILED: unable to get "
                     "local issuer certificate" in central.log_text(),
             timeout=10, message="the central's log to say why the handshake failed")
    log = central.log_text()
    assert "ssl_transport_security" not in log and "grpc core" not in log     # one clear line, not gRPC's own
    assert (central.db_path.stat().st_mode & 0o777) == 0o600                  # records are personal data


def test_an_expired_client_cert_is_refused_at_the_handshake(central, pki, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    expired = issue_site_cert(pki.dir, "site-a", tmp_path / "expired",
                              not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    assert_handshake_refused(central, pki.credentials(cert=expired), "expired-1")
    wait_for(lambda: "certificate has expired" in central.log_text(), timeout=10,
             message="the central's log to say the client certificate has expired")


def test_a_client_without_a_cert_is_refused(central, pki):
    anonymous = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
    assert_handshake_refused(central, anonymous, "anonymous-1")


def test_a_hello_for_another_site_is_permission_denied(central):
    with central.channel("site-b") as channel, SyncStream(channel, "site-a") as stream:
        with pytest.raises(grpc.RpcError) as err:
            stream.batch(1, [make_record("impostor-1", site_id="site-a")])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "site-a" in err.value.details() and "site-b" in err.value.details()
    assert rows_for(central, "impostor-1") == []


def test_a_site_cannot_write_records_of_another_site(central):
    with central.channel("site-b") as channel, SyncStream(channel, "site-b") as stream:
        response = stream.batch(1, [make_record("mine-1", site_id="site-b"), make_record("theirs-1", site_id="site-a")])
    assert [(a.status, a.reason) for a in response.acks] == [
        (sync_pb2.STORED, ""), (sync_pb2.REJECTED, "site_id mismatch")]
    assert rows_for(central, "mine-1") == ["site-b"]
    assert rows_for(central, "theirs-1") == []


def test_two_sites_may_use_the_same_key(central):
    for site in ("site-a", "site-b"):
        with central.channel(site) as channel, SyncStream(channel, site) as stream:
            response = stream.batch(1, [make_record("shared-key", site_id=site)])
        assert response.acks[0].status == sync_pb2.STORED
    assert sorted(rows_for(central, "shared-key")) == ["site-a", "site-b"]


def test_a_self_test_report_for_another_site_is_permission_denied(central):
    with central.channel("site-b") as channel:
        with pytest.raises(grpc.RpcError) as err:
            sync_pb2_grpc.CdrSyncStub(channel).ReportSelfTest(
                sync_pb2.SelfTestReport(site_id="site-a", run_id="r1"), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_connect_and_disconnect_are_logged_with_site_and_peer(central):
    with central.channel("site-b") as channel, SyncStream(channel, "site-b", appliance_version="9.9.9") as stream:
        stream.batch(1, [])
    # The disconnect line is written when the central sees the stream end; poll the log for it.
    wait_for(lambda: "site site-b disconnected from ipv4:127.0.0.1:" in central.log_text(), timeout=10,
             message="disconnect log line")
    assert "site site-b connected from ipv4:127.0.0.1:" in central.log_text()
    assert "appliance 9.9.9" in central.log_text()


def test_plaintext_mode_trusts_the_hello_site(tmp_path):
    with CentralProcess(tmp_path / "plain.db") as proc, proc.channel() as channel:
        assert proc.health() == "SERVING"
        with SyncStream(channel, "site-x") as stream:
            response = stream.batch(1, [make_record("plain-1", site_id="site-x"), make_record("plain-2")])
    assert [(a.status, a.reason) for a in response.acks] == [
        (sync_pb2.STORED, ""), (sync_pb2.REJECTED, "site_id mismatch")]
    assert rows_for(proc, "plain-1") == ["site-x"]


def test_plaintext_is_refused_off_loopback(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        CentralServer("0.0.0.0:0", tmp_path / "c.db")


def test_mtls_needs_all_three_files(tmp_path, pki):
    with pytest.raises(ValueError, match="cert, key and client_ca"):
        CentralServer("127.0.0.1:0", tmp_path / "c.db", cert=pki.central_cert, key=pki.central_key)


# ---- the CRM subscriber's certificate: reads live events of every site, writes nothing -------------------

def assert_denied(call, *words: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for word in words:
        assert word in err.value.details()


def test_a_crm_certificate_may_not_write_records_self_tests_events_or_recordings(central):
    from appliance.v1 import recordings_pb2, recordings_pb2_grpc
    from tests.helpers.live_client import Publisher
    with central.channel("crm") as crm:
        with SyncStream(crm, "site-a") as stream:
            assert_denied(lambda: stream.batch(1, [make_record("crm-1")]), "CRM certificate")
        assert_denied(lambda: sync_pb2_grpc.CdrSyncStub(crm).ReportSelfTest(
            sync_pb2.SelfTestReport(site_id="site-a", run_id="crm-run"), timeout=10), "CRM certificate")
        with Publisher(crm, "site-a") as pub:
            assert_denied(lambda: pub.wait_acked(1), "CRM certificate")
        offer = recordings_pb2.UploadRequest(offer=recordings_pb2.UploadOffer(site_id="site-a", call_key="k"))
        assert_denied(lambda: list(recordings_pb2_grpc.RecordingsStub(crm).Upload(iter([offer]), timeout=10)),
                      "CRM certificate")
    assert rows_for(central, "crm-1") == []


def test_a_site_certificate_may_not_subscribe(central):
    from tests.helpers.live_client import Subscriber
    with central.channel("site-a") as site, Subscriber(site) as sub:
        assert_denied(sub.next, "site certificate")


def test_a_crm_certificate_subscribes_to_every_site(central):
    from tests.helpers.live_client import Publisher, Subscriber, call_event, snapshot_event
    with central.channel("site-b") as site, central.channel("crm") as crm, Publisher(site, "site-b") as pub:
        pub.publish(snapshot_event(1, site_id="site-b"))
        pub.wait_acked(1)
        with Subscriber(crm) as sub:
            sub.until(lambda e: e.site_id == "site-b")          # its opening snapshot: subscribed from here on
            pub.publish(call_event(2, "crm-sees-b", site_id="site-b"))
            seen = sub.until(lambda e: e.WhichOneof("body") == "call" and e.call.call_key == "crm-sees-b")
    assert seen[-1].site_id == "site-b"
