"""The development PKI: files and permissions, what each certificate is good for, and the site identity in it."""
from __future__ import annotations

import datetime as dt
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.ops.pki import init_pki, issue_site_cert, pki_main, site_id_from_cert


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ext(cert: x509.Certificate, kind):
    return cert.extensions.get_extension_for_class(kind).value


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return init_pki(tmp_path_factory.mktemp("pki"), "lon-1", extra_sites=("par-2",))


def test_init_writes_keys_0600_and_certs_0644(pki):
    names = sorted(p.name for p in pki.dir.iterdir())
    assert names == ["ca.key", "ca.pem", "central.key", "central.pem", "crm.key", "crm.pem", "site-par-2.key",
                     "site-par-2.pem", "site.key", "site.pem"]
    for path in pki.dir.iterdir():
        assert mode(path) == (0o600 if path.suffix == ".key" else 0o644), path.name


def test_every_cert_chains_to_the_ca_and_is_valid_now(pki):
    ca = load(pki.ca.cert)
    assert ext(ca, x509.BasicConstraints).ca
    now = dt.datetime.now(dt.timezone.utc)
    for paths in (pki.central, pki.site, pki.extra_sites["par-2"]):
        cert = load(paths.cert)
        cert.verify_directly_issued_by(ca)
        assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
        assert not ext(cert, x509.BasicConstraints).ca


def test_central_cert_is_a_server_cert_for_loopback(pki):
    cert = load(pki.central.cert)
    san = ext(cert, x509.SubjectAlternativeName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_site_cert_is_a_client_cert_naming_the_site(pki):
    cert = load(pki.site.cert)
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(cert, x509.SubjectAlternativeName).get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:appliance:site:lon-1"]
    assert cert.subject.rfc4514_string() == "CN=lon-1"


def test_site_id_is_read_from_pem_str_or_der(pki):
    pem = pki.extra_sites["par-2"].cert.read_bytes()
    der = load(pki.extra_sites["par-2"].cert).public_bytes(Encoding.DER)
    assert site_id_from_cert(pem) == site_id_from_cert(pem.decode()) == site_id_from_cert(der) == "par-2"


def test_init_refuses_to_overwrite_an_existing_ca(pki):
    before = pki.ca.key.read_bytes()
    with pytest.raises(FileExistsError, match="already holds a CA"):
        init_pki(pki.dir, "lon-1")
    assert pki.ca.key.read_bytes() == before


@pytest.mark.parametrize("bad", ["", "has space", "-leading-dash", "x" * 65, "a/b"])
def test_bad_site_ids_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="invalid site id"):
        init_pki(tmp_path, bad)
    assert list(tmp_path.iterdir()) == []


def test_issue_site_cert_with_chosen_validity(pki, tmp_path):
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    paths = issue_site_cert(pki.dir, "old-site", tmp_path / "old", not_before=start,
                            not_after=start + dt.timedelta(days=1))
    cert = load(paths.cert)
    assert (paths.cert.name, paths.key.name) == ("old.pem", "old.key")
    assert cert.not_valid_after_utc == start + dt.timedelta(days=1)
    assert site_id_from_cert(paths.cert.read_bytes()) == "old-site"
    assert mode(paths.key) == 0o600
    cert.verify_directly_issued_by(load(pki.ca.cert))


def test_pki_cli_init_and_issue(tmp_path, capsys):
    assert pki_main(["init", "--dir", str(tmp_path / "p"), "--site", "s1"]) == 0
    assert pki_main(["issue-site", "--dir", str(tmp_path / "p"), "--site", "s2", "--out", str(tmp_path / "s2")]) == 0
    assert site_id_from_cert((tmp_path / "s2.pem").read_bytes()) == "s2"
    assert pki_main(["init", "--dir", str(tmp_path / "p"), "--site", "s1"]) == 2
    out = capsys.readouterr()
    assert "already holds a CA" in out.err
    assert "BEGIN" not in out.out + out.err, "no key or cert material on the terminal"


def test_python_dash_m_runs_the_pki_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "appliance.ops.pki", "init", "--dir", str(tmp_path), "--site", "s9"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site.pem").exists()
