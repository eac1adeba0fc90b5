"""The CRM subscriber's certificate: what `pki init` / `pki issue-crm` write, and how the central reads identities."""
from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.central.identity import CRM, SITE, peer_of_pem
from appliance.ops.pki import crm_name_from_cert, init_pki, site_id_from_cert


def test_init_writes_a_crm_client_certificate_that_speaks_for_no_site(tmp_path):
    paths = init_pki(tmp_path / "pki", "lon-1")
    pem = paths.crm.cert.read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:appliance:crm:crm"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(paths.ca.cert.read_bytes()))
    assert (paths.crm.key.stat().st_mode & 0o777) == 0o600
    assert crm_name_from_cert(pem) == "crm"
    with pytest.raises(ValueError, match="CRM"):
        site_id_from_cert(pem)
    assert crm_name_from_cert(paths.site.cert.read_bytes()) is None


def test_the_central_tells_sites_from_crm_clients(tmp_path):
    paths = init_pki(tmp_path / "pki", "lon-1")
    assert (peer_of_pem(paths.site.cert.read_bytes()).kind, peer_of_pem(paths.site.cert.read_bytes()).name) == (
        SITE, "lon-1")
    assert (peer_of_pem(paths.crm.cert.read_bytes()).kind, peer_of_pem(paths.crm.cert.read_bytes()).name) == (
        CRM, "crm")


def test_issue_crm_adds_a_named_crm_client(tmp_path):
    init_pki(tmp_path / "pki", "lon-1")
    result = subprocess.run([sys.executable, "-m", "appliance.ops.pki", "issue-crm", "--dir", str(tmp_path / "pki"),
                             "--name", "wallboard-2", "--out", str(tmp_path / "wb2")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert crm_name_from_cert((tmp_path / "wb2.pem").read_bytes()) == "wallboard-2"
