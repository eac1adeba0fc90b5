"""`appliance config check` catches what would make the central refuse the site, before a restart:
a key others can read, a certificate for another site, a certificate out of date."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.ops.pki import SITE_URI_PREFIX, init_pki, issue_site_cert

SITE = "site-a"
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return init_pki(tmp_path_factory.mktemp("pki"), SITE)


def config_for(tmp_path: Path, pki, cert: Path, key: Path, site: str = SITE) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(f'[site]\nid = "{site}"\ndata_dir = "{tmp_path / "data"}"\n'
                    f'[[pbx]]\nname = "pbx1"\nformat = "avaya-ipo"\nlisten = "127.0.0.1:1150"\n'
                    f'[central]\nendpoints = ["central.example.net:7443"]\nca_file = "{pki.ca.cert}"\n'
                    f'cert_file = "{cert}"\nkey_file = "{key}"\n')
    return path


def config_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=30)


def custom_cert(pki, tmp_path: Path, *, cn: str | None, uri_site: str | None) -> tuple[Path, Path]:
    """A client certificate from the same CA, with the names a foreign PKI might have given it."""
    ca_key = serialization.load_pem_private_key(pki.ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else
                        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "a site")])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=300)))
    if uri_site:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(SITE_URI_PREFIX + uri_site)]), critical=False)
    cert_path, key_path = tmp_path / "custom.pem", tmp_path / "custom.key"
    cert_path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def test_the_dev_pki_as_issued_passes(pki, tmp_path):
    done = config_check(config_for(tmp_path, pki, pki.site.cert, pki.site.key))
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660])
def test_a_key_readable_by_others_is_a_config_error_with_the_fix(pki, tmp_path, mode):
    paths = issue_site_cert(pki.dir, SITE, tmp_path / "site")
    os.chmod(paths.key, mode)
    done = config_check(config_for(tmp_path, pki, paths.cert, paths.key))
    assert done.returncode == 2
    assert f"key_file {paths.key} can be read by users other than its owner (mode {mode:04o})" in done.stderr
    assert f"chmod 0600 {paths.key}" in done.stderr and "OK" not in done.stdout


def test_a_certificate_for_another_site_is_a_config_error(pki, tmp_path):
    paths = issue_site_cert(pki.dir, "site-b", tmp_path / "other")
    done = config_check(config_for(tmp_path, pki, paths.cert, paths.key))
    assert done.returncode == 2
    assert "client certificate is for site 'site-b', config says 'site-a'" in done.stderr
    assert f"{SITE_URI_PREFIX}site-a" in done.stderr                 # the fix names what is needed


def test_a_cn_only_certificate_is_read_by_its_cn(pki, tmp_path):
    cert, key = custom_cert(pki, tmp_path, cn="site-z", uri_site=None)
    assert config_check(config_for(tmp_path, pki, cert, key, site="site-z")).returncode == 0
    wrong = config_check(config_for(tmp_path, pki, cert, key))
    assert wrong.returncode == 2 and "is for site 'site-z', config says 'site-a'" in wrong.stderr


def test_a_cn_that_disagrees_with_the_site_uri_is_a_warning(pki, tmp_path):
    cert, key = custom_cert(pki, tmp_path, cn="gateway-7", uri_site=SITE)
    done = config_check(config_for(tmp_path, pki, cert, key))
    assert done.returncode == 0 and "OK" in done.stdout
    assert "warning" in done.stderr and "CN is 'gateway-7'" in done.stderr


def test_an_expired_certificate_is_a_config_error(pki, tmp_path):
    end = NOW - dt.timedelta(days=3)
    paths = issue_site_cert(pki.dir, SITE, tmp_path / "old", not_before=NOW - dt.timedelta(days=400),
                            not_after=end)
    done = config_check(config_for(tmp_path, pki, paths.cert, paths.key))
    assert done.returncode == 2
    assert f"client certificate expired on {end:%Y-%m-%d}" in done.stderr and "renew it" in done.stderr


def test_a_not_yet_valid_certificate_is_a_config_error_pointing_at_the_clock(pki, tmp_path):
    paths = issue_site_cert(pki.dir, SITE, tmp_path / "future", not_before=NOW + dt.timedelta(days=2),
                            not_after=NOW + dt.timedelta(days=300))
    done = config_check(config_for(tmp_path, pki, paths.cert, paths.key))
    assert done.returncode == 2
    assert "client certificate not valid before" in done.stderr and "clock" in done.stderr


def test_a_certificate_expiring_soon_is_a_warning_only(pki, tmp_path):
    paths = issue_site_cert(pki.dir, SITE, tmp_path / "soon", not_after=NOW + dt.timedelta(days=9, hours=1))
    done = config_check(config_for(tmp_path, pki, paths.cert, paths.key))
    assert done.returncode == 0 and "OK" in done.stdout
    assert "warning" in done.stderr and "client cert valid 9 more day(s)" in done.stderr


def test_every_problem_is_listed_at_once(pki, tmp_path):
    paths = issue_site_cert(pki.dir, "site-b", tmp_path / "both", not_before=NOW - dt.timedelta(days=400),
                            not_after=NOW - dt.timedelta(days=1))
    os.chmod(paths.key, 0o644)
    done = config_check(config_for(tmp_path, pki, paths.cert, paths.key))
    assert done.returncode == 2
    for text in ("can be read by users other than its owner", "expired on", "is for site 'site-b'"):
        assert text in done.stderr
