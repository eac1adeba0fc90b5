"""Development PKI: a CA, the central's server cert and per-site client certs for gRPC mTLS."""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import logging
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("appliance.pki")

SITE_URI_PREFIX = "urn:appliance:site:"
CRM_URI_PREFIX = "urn:appliance:crm:"      # CRM subscribers: may read every site's live events, never write
SITE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CLOCK_SKEW = dt.timedelta(minutes=5)   # back-date not_before so a slightly slow peer clock still accepts


@dataclass(frozen=True)
class CertPaths:
    """Where one certificate and its private key were written."""
    cert: Path
    key: Path


@dataclass(frozen=True)
class PkiPaths:
    """The files `init_pki` writes (plus one CertPaths per extra site)."""
    dir: Path
    ca: CertPaths
    central: CertPaths
    site: CertPaths
    extra_sites: dict[str, CertPaths]
    crm: CertPaths | None = None


def check_site_id(site_id: str) -> str:
    """Site ids go into a CN and a URN: letters, digits, '.', '_', '-'; at most 64 characters."""
    if not SITE_ID_PATTERN.fullmatch(site_id):
        raise ValueError(
            f"invalid site id {site_id!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return site_id


def init_pki(dir: str | os.PathLike, site_id: str, *, days: int = 825,
             extra_sites: tuple[str, ...] | list[str] = (), crm_name: str = "crm") -> PkiPaths:
    """Create DIR/ca.*, DIR/central.*, DIR/site.* (plus DIR/site-<id>.* per extra site) and DIR/crm.*
    (a CRM subscriber's client cert named crm_name).

    Refuses to overwrite an existing CA: re-running would orphan every certificate already issued.
    """
    check_site_id(site_id)
    check_site_id(crm_name)
    for extra in extra_sites:
        check_site_id(extra)
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    ca_paths = CertPaths(out / "ca.pem", out / "ca.key")
    if ca_paths.key.exists() or ca_paths.cert.exists():
        raise FileExistsError(f"{out} already holds a CA ({ca_paths.cert.name}); use a new directory "
                              "or issue more site certs from this CA")
    now = _now()
    not_after = now + dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "call-centre appliance dev PKI"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"appliance dev CA ({site_id})")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now - _CLOCK_SKEW, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(ca_paths.key, ca_key)
    _write_cert(ca_paths.cert, ca_cert)

    central_key = ec.generate_private_key(ec.SECP256R1())
    central_cert = (
        _leaf_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance-central")]),
                      ca_cert, ca_key, central_key, now - _CLOCK_SKEW, not_after)
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
        ]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    central = CertPaths(out / "central.pem", out / "central.key")
    _write_key(central.key, central_key)
    _write_cert(central.cert, central_cert)

    site = _issue_site(ca_cert, ca_key, site_id, out / "site", now - _CLOCK_SKEW, not_after)
    extras = {extra: _issue_site(ca_cert, ca_key, extra, out / f"site-{extra}", now - _CLOCK_SKEW, not_after)
              for extra in extra_sites}
    crm = _issue_client(ca_cert, ca_key, CRM_URI_PREFIX, crm_name, out / "crm", now - _CLOCK_SKEW, not_after)
    log.info("pki: created CA, central, site %s and CRM %s certificates in %s", site_id, crm_name, out)
    return PkiPaths(dir=out, ca=ca_paths, central=central, site=site, extra_sites=extras, crm=crm)


def issue_site_cert(ca_dir: str | os.PathLike, site_id: str, out_prefix: str | os.PathLike, *,
                    not_before: dt.datetime | None = None, not_after: dt.datetime | None = None) -> CertPaths:
    """Issue a client cert for `site_id` from the CA in ca_dir; writes <out_prefix>.pem and <out_prefix>.key.

    not_before/not_after (timezone-aware) let tests make an expired or not-yet-valid cert.
    """
    check_site_id(site_id)
    ca_dir = Path(ca_dir)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    now = _now()
    start = not_before if not_before is not None else now - _CLOCK_SKEW
    end = not_after if not_after is not None else now + dt.timedelta(days=825)
    if end <= start:
        raise ValueError(f"not_after ({end}) must be later than not_before ({start})")
    return _issue_site(ca_cert, ca_key, site_id, Path(out_prefix), start, end)


def issue_crm_cert(ca_dir: str | os.PathLike, name: str, out_prefix: str | os.PathLike, *,
                   days: int = 825) -> CertPaths:
    """Issue a CRM subscriber's client cert (SAN URI urn:appliance:crm:<name>) from the CA in ca_dir."""
    check_site_id(name)
    ca_dir = Path(ca_dir)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    now = _now()
    return _issue_client(ca_cert, ca_key, CRM_URI_PREFIX, name, Path(out_prefix), now - _CLOCK_SKEW,
                         now + dt.timedelta(days=days))


def crm_name_from_cert(pem_or_der: bytes | str) -> str | None:
    """The CRM name of a subscriber's client certificate (its urn:appliance:crm: SAN URI), None for others."""
    for uri in _san_uris(_load_cert(pem_or_der)):
        if uri.startswith(CRM_URI_PREFIX):
            return uri[len(CRM_URI_PREFIX):]
    return None


def _load_cert(pem_or_der: bytes | str) -> x509.Certificate:
    data = pem_or_der.encode("ascii") if isinstance(pem_or_der, str) else bytes(pem_or_der)
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _san_uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def site_id_from_cert(pem_or_der: bytes | str) -> str:
    """The site a client certificate speaks for: its urn:appliance:site: SAN URI, else its CN.

    A CRM certificate (urn:appliance:crm: URI) speaks for no site.
    """
    cert = _load_cert(pem_or_der)
    uris = _san_uris(cert)
    for uri in uris:
        if uri.startswith(SITE_URI_PREFIX):
            return uri[len(SITE_URI_PREFIX):]
    if any(uri.startswith(CRM_URI_PREFIX) for uri in uris):
        raise ValueError("certificate is a CRM subscriber's, not a site's")
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        return str(common_names[0].value)
    raise ValueError("certificate names no site: no urn:appliance:site: SAN URI and no CN")


def _issue_site(ca_cert: x509.Certificate, ca_key, site_id: str, prefix: Path,
                not_before: dt.datetime, not_after: dt.datetime) -> CertPaths:
    return _issue_client(ca_cert, ca_key, SITE_URI_PREFIX, site_id, prefix, not_before, not_after)


def _issue_client(ca_cert: x509.Certificate, ca_key, uri_prefix: str, name: str, prefix: Path,
                  not_before: dt.datetime, not_after: dt.datetime) -> CertPaths:
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = name if uri_prefix == SITE_URI_PREFIX else f"crm:{name}"
    cert = (
        _leaf_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]),
                      ca_cert, ca_key, key, not_before, not_after)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri_prefix + name)]),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = CertPaths(prefix.with_name(prefix.name + ".pem"), prefix.with_name(prefix.name + ".key"))
    paths.cert.parent.mkdir(parents=True, exist_ok=True)
    _write_key(paths.key, key)
    _write_cert(paths.cert, cert)
    return paths


def _leaf_builder(subject: x509.Name, ca_cert: x509.Certificate, ca_key, key,
                  not_before: dt.datetime, not_after: dt.datetime) -> x509.CertificateBuilder:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        _builder(subject, ca_cert.subject, key.public_key(), not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before: dt.datetime,
             not_after: dt.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
            .not_valid_before(not_before).not_valid_after(not_after))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def _write_key(path: Path, key) -> None:
    """Create the key file 0600 from the start (O_EXCL): no moment where another user could read it."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def pki_main(argv: list[str] | None = None) -> int:
    """`appliance pki init --dir DIR --site SITE_ID`, `... issue-site --dir DIR --site ID --out PREFIX`,
    `... issue-crm --dir DIR --name NAME --out PREFIX`."""
    parser = argparse.ArgumentParser(prog="appliance pki", description="Development PKI for gRPC mTLS.")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a CA, the central's server cert and a site client cert")
    init.add_argument("--dir", required=True, help="output directory (must not hold a CA yet)")
    init.add_argument("--site", required=True, help="site id for site.pem / site.key")
    init.add_argument("--days", type=int, default=825, help="validity in days (default 825)")
    init.add_argument("--extra-site", action="append", default=[], metavar="SITE_ID",
                      help="also issue site-<SITE_ID>.pem/.key (repeatable)")
    issue = sub.add_parser("issue-site", help="issue another site client cert from an existing CA")
    issue.add_argument("--dir", required=True, help="directory holding ca.pem and ca.key")
    issue.add_argument("--site", required=True)
    issue.add_argument("--out", required=True, help="output prefix: writes PREFIX.pem and PREFIX.key")
    issue.add_argument("--days", type=int, default=825)
    crm = sub.add_parser("issue-crm", help="issue another CRM subscriber client cert from an existing CA")
    crm.add_argument("--dir", required=True, help="directory holding ca.pem and ca.key")
    crm.add_argument("--name", required=True, help="the CRM client's name (urn:appliance:crm:NAME)")
    crm.add_argument("--out", required=True, help="output prefix: writes PREFIX.pem and PREFIX.key")
    crm.add_argument("--days", type=int, default=825)
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            paths = init_pki(args.dir, args.site, days=args.days, extra_sites=tuple(args.extra_site))
            written = [paths.ca, paths.central, paths.site, *paths.extra_sites.values(), paths.crm]
        elif args.command == "issue-crm":
            written = [issue_crm_cert(args.dir, args.name, args.out, days=args.days)]
        else:
            now = _now()
            written = [issue_site_cert(args.dir, args.site, args.out, not_before=now - _CLOCK_SKEW,
                                       not_after=now + dt.timedelta(days=args.days))]
    except (ValueError, OSError) as exc:
        print(f"appliance pki: {exc}", file=sys.stderr)
        return 2
    for item in written:
        print(f"{item.cert}\n{item.key}")
    return 0


if __name__ == "__main__":
    sys.exit(pki_main())
