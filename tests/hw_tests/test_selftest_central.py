"""central:<endpoint> checks and the self-test report, against the real central over real mTLS."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import threading

import pytest

from appliance.config import CentralConfig
from appliance.ops.pki import init_pki, issue_site_cert
from hw_tests.checks_central import check_central
from hw_tests.report import build_report, send_report
from hw_tests.result import Status, failed, passed
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.waiting import free_port

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "site-a")


@pytest.fixture(scope="module")
def central(pki, tmp_path_factory):
    with CentralProcess(tmp_path_factory.mktemp("central") / "central.db", pki=pki) as proc:
        yield proc


def mtls(pki, endpoint: str, **changes) -> CentralConfig:
    site = pki.sites["site-a"]
    values = dict(endpoints=(endpoint,), ca_file=str(pki.ca), cert_file=str(site.cert), key_file=str(site.key))
    values.update(changes)
    return CentralConfig(**values)


def site_cert(pki, tmp_path, **dates) -> dict:
    paths = issue_site_cert(pki.dir, "site-a", tmp_path / "site-special", **dates)
    return {"cert_file": str(paths.cert), "key_file": str(paths.key)}


def dump_selftests(db) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "appliance.central.cli", "dump", "--db", str(db), "--selftests"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


# ---- checks -------------------------------------------------------------------------------

def test_central_up_and_serving_over_mtls_passes(pki, central):
    result = check_central(central.address, mtls(pki, central.address), "site-a")
    assert result.status is Status.PASS, result
    assert result.name == f"central:{central.address}"
    for part in ("client cert valid", "TCP connect", "TLSv1.3 h2", "health SERVING"):
        assert part in result.detail


def test_expired_client_certificate_fails_with_how_to_renew(pki, central, tmp_path):
    cert = site_cert(pki, tmp_path, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=2))
    result = check_central(central.address, mtls(pki, central.address, **cert), "site-a")
    assert result.status is Status.FAIL
    assert result.detail == f"client certificate expired on {(NOW - dt.timedelta(days=2)):%Y-%m-%d}"
    assert "renew it" in result.hint and "appliance pki issue-site" in result.hint


def test_client_certificate_expiring_within_30_days_warns(pki, central, tmp_path):
    cert = site_cert(pki, tmp_path, not_after=NOW + dt.timedelta(days=12, hours=1))
    result = check_central(central.address, mtls(pki, central.address, **cert), "site-a")
    assert result.status is Status.WARN
    assert "client cert valid 12 more day(s)" in result.detail and "health SERVING" in result.detail
    assert "renew it" in result.hint


def test_client_certificate_not_yet_valid_points_at_the_clock(pki, central, tmp_path):
    cert = site_cert(pki, tmp_path, not_before=NOW + dt.timedelta(days=3), not_after=NOW + dt.timedelta(days=300))
    result = check_central(central.address, mtls(pki, central.address, **cert), "site-a")
    assert result.status is Status.FAIL and "not valid before" in result.detail
    assert "clock" in result.hint


def test_wrong_ca_file_fails_naming_the_ca(pki, central, tmp_path):
    other = init_pki(tmp_path / "other", "site-a")
    result = check_central(central.address, mtls(pki, central.address, ca_file=str(other.ca.cert)), "site-a")
    assert result.status is Status.FAIL
    assert f"not trusted by ca_file {other.ca.cert}" in result.detail
    assert "ca_file must be the CA that issued the central's certificate" in result.hint


def test_client_certificate_from_a_ca_the_central_does_not_trust_is_refused(pki, central, tmp_path):
    other = init_pki(tmp_path / "other", "site-a")
    config = mtls(pki, central.address, cert_file=str(other.site.cert), key_file=str(other.site.key))
    result = check_central(central.address, config, "site-a")
    assert result.status is Status.FAIL
    assert ("central refused our client certificate" in result.detail
            or "central closed the connection after the handshake" in result.detail)
    assert "does not accept our client certificate" in result.hint


def test_certificate_of_another_site_fails(pki, central):
    other = pki.sites["site-b"]
    config = mtls(pki, central.address, cert_file=str(other.cert), key_file=str(other.key))
    result = check_central(central.address, config, "site-a")
    assert result.status is Status.FAIL and "is for site 'site-b', config says 'site-a'" in result.detail


def test_central_down_fails_with_connection_refused(pki):
    endpoint = f"127.0.0.1:{free_port()}"
    result = check_central(endpoint, mtls(pki, endpoint), "site-a")
    assert result.status is Status.FAIL and f"connection refused by {endpoint}" in result.detail
    assert "ask the CRM team whether the central is up" in result.hint


def test_central_certificate_not_issued_for_the_address_used_fails(pki):
    """A real TLS server with the central's certificate, reached at an address its SAN does not name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.central_cert, pki.central_key)
    with socket.create_server(("127.0.0.2", 0)) as server:
        endpoint = f"127.0.0.2:{server.getsockname()[1]}"

        def serve_one():
            conn, _ = server.accept()
            try:
                ctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()           # the client gives up on our certificate: expected

        thread = threading.Thread(target=serve_one, name="tls-server", daemon=True)
        thread.start()
        result = check_central(endpoint, mtls(pki, endpoint), "site-a")
        thread.join(5)
    assert result.status is Status.FAIL
    assert "the central's certificate is not valid for 127.0.0.2" in result.detail
    assert "central.endpoints" in result.hint


def test_plaintext_central(pki, tmp_path):
    with CentralProcess(tmp_path / "plain.db") as plain:
        ok = check_central(plain.address, CentralConfig(endpoints=(plain.address,), plaintext=True), "site-a")
        wrong = check_central(plain.address, mtls(pki, plain.address), "site-a")
    assert ok.status is Status.PASS and "plaintext" in ok.detail and "health SERVING" in ok.detail
    assert wrong.status is Status.FAIL and "does not speak TLS" in wrong.detail


# ---- report -------------------------------------------------------------------------------

def report(run_id: str):
    results = [passed("clock", "synchronised"), failed("device:gsm1", "SIM missing", "insert the SIM")]
    return build_report("site-a", run_id, "2026-11-22T12:00:00.000Z", results, Status.FAIL)


def test_report_reaches_the_central_once_even_when_sent_twice(pki, central):
    config = mtls(pki, central.address)
    first = send_report(config, report("run-1"))
    again = send_report(config, report("run-1"))
    assert first.sent and first.message == f"report sent to {central.address} (stored)"
    assert again.sent and again.message.endswith("(duplicate)")
    stored = [r for r in dump_selftests(central.db_path) if r["runId"] == "run-1"]
    assert len(stored) == 1
    assert stored[0]["siteId"] == "site-a" and stored[0]["verdict"] == "FAIL"
    assert [(c["name"], c["status"], c["hint"]) for c in stored[0]["checks"]] == [
        ("clock", "PASS", ""), ("device:gsm1", "FAIL", "insert the SIM")]


def test_report_fails_over_to_the_next_endpoint(pki, central):
    down = f"127.0.0.1:{free_port()}"
    outcome = send_report(mtls(pki, down, endpoints=(down, central.address)), report("run-2"))
    assert outcome.sent and outcome.endpoint == central.address


def test_report_that_cannot_be_delivered_is_a_message_not_an_exception(pki, tmp_path):
    down = f"127.0.0.1:{free_port()}"
    outcome = send_report(mtls(pki, down), report("run-3"), timeout_s=2)
    assert not outcome.sent and outcome.message.startswith("report not sent: ") and down in outcome.message
    missing = send_report(mtls(pki, down, cert_file=str(tmp_path / "gone.pem")), report("run-3"))
    assert not missing.sent and "gone.pem" in missing.message


@pytest.mark.parametrize("mode", [0o640, 0o644])
def test_a_client_key_readable_by_others_fails_with_the_fix(pki, central, tmp_path, mode):
    cert = site_cert(pki, tmp_path)
    os.chmod(cert["key_file"], mode)
    result = check_central(central.address, mtls(pki, central.address, **cert), "site-a")
    assert result.status is Status.FAIL
    assert f"can be read by users other than its owner (mode {mode:04o})" in result.detail
    assert f"chmod 0600 {cert['key_file']}" in result.hint
    assert "TCP connect" not in result.detail           # stops before talking to the central
