"""Check the site's installed mTLS credentials: key file mode, certificate dates and site, key fits."""
from __future__ import annotations

import os
import ssl
import stat
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from appliance.ops.pki import SITE_URI_PREFIX, site_id_from_cert

EXPIRY_WARN_DAYS = 30
DAEMON_USER = "appliance"       # the unit's User=: the one account that may read the key

RENEW = ("renew it: issue a new site certificate from the site CA (`appliance pki issue-site` "
         "for the dev PKI, otherwise ask the CRM team), install it as cert_file/key_file and "
         "`systemctl restart appliance`")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the credentials; `fatal` False is a warning (expiring soon)."""
    fatal: bool
    message: str
    fix: str


@dataclass(frozen=True)
class CredentialReport:
    """Every problem found, worst first, and the client certificate's end date once it was read."""
    problems: tuple[Problem, ...]
    not_after: datetime | None = None

    @property
    def fatal(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.fatal)


def check_client_credentials(*, ca_file: str, cert_file: str, key_file: str, site_id: str,
                             now: datetime) -> CredentialReport:
    """Is cert_file readable, in date and for `site_id`, is key_file its key and readable by its
    owner only, and does ca_file load? `now` is timezone-aware UTC."""
    try:
        pem = open(cert_file, "rb").read()
        cert = x509.load_pem_x509_certificate(pem)
    except OSError as exc:
        return CredentialReport((Problem(True, f"cannot read cert_file {cert_file} ({exc.strerror})",
                                         "install the site certificate there, or fix cert_file in [central]"),))
    except ValueError:
        return CredentialReport((Problem(True, f"cert_file {cert_file} is not a PEM certificate",
                                         "cert_file must be the site certificate in PEM form "
                                         "(-----BEGIN CERTIFICATE-----)"),))
    problems = [p for p in (_key_mode(key_file), _ca_loads(ca_file), _key_fits(cert_file, key_file))
                if p is not None]
    problems += _dates(cert, now) + _site(cert, pem, site_id)
    problems.sort(key=lambda p: not p.fatal)
    return CredentialReport(tuple(problems), cert.not_valid_after_utc)


def _key_mode(key_file: str) -> Problem | None:
    try:
        mode = stat.S_IMODE(os.stat(key_file).st_mode)
    except OSError:
        return None             # _key_fits says why it cannot be read
    if mode & 0o077 == 0:
        return None
    return Problem(True, f"key_file {key_file} can be read by users other than its owner "
                         f"(mode {mode:04o})",
                   f"the site's private key must be readable by the daemon's user only: "
                   f"`chown {DAEMON_USER}:{DAEMON_USER} {key_file} && chmod 0600 {key_file}`")


def _ca_loads(ca_file: str) -> Problem | None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(ca_file)
    except (OSError, ssl.SSLError) as exc:
        return Problem(True, f"cannot load ca_file {ca_file} ({exc})",
                       "ca_file must be the CA certificate (PEM) that issued the central's certificate")
    return None


def _key_fits(cert_file: str, key_file: str) -> Problem | None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        return Problem(True, f"key_file {key_file} does not fit cert_file ({exc})",
                       "install the key that was issued together with the certificate as key_file")
    return None


def _dates(cert: x509.Certificate, now: datetime) -> list[Problem]:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        return [Problem(True, f"client certificate not valid before {start:%Y-%m-%d %H:%M} UTC",
                        "check this box's clock first (`timedatectl`; the self-test's clock check); if "
                        "it is right, the certificate was issued with wrong dates: " + RENEW)]
    if now >= end:
        return [Problem(True, f"client certificate expired on {end:%Y-%m-%d}", RENEW)]
    days = (end - now).days
    if days < EXPIRY_WARN_DAYS:
        return [Problem(False, validity_text(end, now), RENEW)]
    return []


def validity_text(not_after: datetime, now: datetime) -> str:
    return f"client cert valid {(not_after - now).days} more day(s) (until {not_after:%Y-%m-%d})"


def _site(cert: x509.Certificate, pem: bytes, site_id: str) -> list[Problem]:
    """The site the central will take us for (its SAN URI, else its CN) must be ours; a CN that
    disagrees with the URI is a warning (a central that reads only the CN would refuse us)."""
    try:
        cert_site = site_id_from_cert(pem)
    except ValueError:
        cert_site = ""
    if cert_site != site_id:
        return [Problem(True, f"client certificate is for site {cert_site!r}, config says {site_id!r}",
                        f"install this site's certificate as cert_file (CN {site_id}, or SAN URI "
                        f"{SITE_URI_PREFIX}{site_id}), or fix [site] id")]
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    if cn and cn != site_id:
        return [Problem(False, f"client certificate's CN is {cn!r} but its {SITE_URI_PREFIX} URI "
                               f"says {site_id!r}",
                        f"a central that reads the CN will refuse it: ask for a certificate with CN {site_id}")]
    return []
