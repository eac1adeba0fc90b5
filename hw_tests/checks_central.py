"""central:<endpoint> — client certificate, TCP reach, TLS handshake (precise reason) and gRPC health."""
from __future__ import annotations

import socket
import ssl
import time
from datetime import datetime, timezone
from typing import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from appliance.config import CentralConfig
from appliance.common.hostport import split_hostport
from appliance.ops.credentials import check_client_credentials, validity_text

from .result import CheckResult, Finding, Status, combine

HEALTH_SERVICE = "appliance.v1.CdrSync"
_REFUSED = ("the central does not accept our client certificate: cert_file must be issued by the "
            "CA the central trusts for sites, for this site, and be in date; ask the CRM team for "
            "a new one")


def client_cert_finding(central: CentralConfig, site_id: str, now: datetime) -> Finding:
    """Is cert_file readable, in date, for this site, key_file its key and private to its owner?"""
    report = check_client_credentials(ca_file=central.ca_file, cert_file=central.cert_file,
                                      key_file=central.key_file, site_id=site_id, now=now)
    problems = report.fatal or report.problems
    if problems:
        status = Status.FAIL if report.fatal else Status.WARN
        return Finding(status, "; ".join(p.message for p in problems),
                       "; ".join(dict.fromkeys(p.fix for p in problems)))
    return Finding(Status.PASS, validity_text(report.not_after, now))


def _connect(host: str, port: int, timeout_s: float) -> tuple[socket.socket | None, Finding]:
    start = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror as exc:
        return None, Finding(Status.FAIL, f"cannot resolve {host} ({exc.strerror})",
                             "check the name in central.endpoints and the DNS settings "
                             "(/etc/resolv.conf, `resolvectl status`)")
    except ConnectionRefusedError:
        return None, Finding(Status.FAIL, f"connection refused by {host}:{port}",
                             "the central is down or not listening on that port: check the port "
                             "in central.endpoints and ask the CRM team whether the central is up")
    except (socket.timeout, TimeoutError):
        return None, Finding(Status.FAIL, f"no answer from {host}:{port} within {timeout_s:g} s",
                             f"a firewall drops the traffic or the address is wrong: allow outbound "
                             f"TCP port {port} to {host}")
    except OSError as exc:
        return None, Finding(Status.FAIL, f"cannot reach {host}:{port} ({exc.strerror or exc})",
                             "check the box's network: cable, IP address, default route (`ip route`)")
    return sock, Finding(Status.PASS, f"TCP connect {(time.perf_counter() - start) * 1000:.0f} ms")


def _tls(sock: socket.socket, host: str, central: CentralConfig, timeout_s: float) -> Finding:
    """Handshake with Python's ssl (it names the reason), then wait for the server's first frame.

    In TLS 1.3 the server checks our certificate after the handshake has completed on our side:
    a refusal shows up as an alert (or a bare close) on the first read, not during the handshake.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(central.ca_file)
    ctx.load_cert_chain(central.cert_file, central.key_file)
    ctx.set_alpn_protocols(["h2"])
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        return _untrusted(exc, host, central)
    except ssl.SSLError as exc:
        if "WRONG_VERSION_NUMBER" in str(exc) or "record layer failure" in str(exc):
            return Finding(Status.FAIL, "the endpoint does not speak TLS",
                           "this port serves plaintext: point central.endpoints at the central's "
                           "TLS port (plaintext is only for a central on this box)")
        return Finding(Status.FAIL, f"TLS handshake failed ({exc.reason or exc})", _REFUSED)
    except (socket.timeout, TimeoutError):
        return Finding(Status.FAIL, f"TLS handshake did not finish within {timeout_s:g} s",
                       "something answers on that port but does not speak TLS: is it the central's port?")
    except OSError as exc:
        return Finding(Status.FAIL, f"connection closed during the TLS handshake ({exc})", _REFUSED)
    with tls:
        version, alpn = tls.version(), tls.selected_alpn_protocol()
        if alpn != "h2":
            return Finding(Status.FAIL, f"{version} but no HTTP/2 (ALPN {alpn or 'none'})",
                           "this port speaks TLS but is not a gRPC server: check the port in "
                           "central.endpoints")
        try:
            first = tls.recv(1)
        except ssl.SSLError as exc:
            return Finding(Status.FAIL, f"central refused our client certificate ({exc.reason or exc})",
                           _REFUSED)
        except (socket.timeout, TimeoutError):
            first = b"?"             # quiet but open: the health check below decides
        except OSError as exc:
            return Finding(Status.FAIL, f"central closed the connection after the handshake ({exc})",
                           _REFUSED)
        if not first:
            return Finding(Status.FAIL, "central closed the connection after the handshake", _REFUSED)
    return Finding(Status.PASS, f"{version} h2")


def _untrusted(exc: ssl.SSLCertVerificationError, host: str, central: CentralConfig) -> Finding:
    code, message = exc.verify_code, exc.verify_message
    if code in (62, 64):                  # X509_V_ERR_HOSTNAME_MISMATCH / _IP_ADDRESS_MISMATCH
        return Finding(Status.FAIL, f"the central's certificate is not valid for {host} ({message})",
                       "use the host name or address the central's certificate was issued for in "
                       "central.endpoints (ask the CRM team which)")
    if code in (9, 10):                   # not yet valid / expired
        return Finding(Status.FAIL, f"the central's certificate is out of date ({message})",
                       "check this box's clock (clock check); if it is right, the CRM team must "
                       "renew the central's certificate")
    return Finding(Status.FAIL, f"the central's certificate is not trusted by ca_file "
                                f"{central.ca_file} ({message})",
                   "ca_file must be the CA that issued the central's certificate: get the right "
                   "ca.pem from the CRM team")


def _health(endpoint: str, central: CentralConfig, timeout_s: float) -> Finding:
    if central.plaintext:
        channel = grpc.insecure_channel(endpoint)
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=open(central.ca_file, "rb").read(),
            private_key=open(central.key_file, "rb").read(),
            certificate_chain=open(central.cert_file, "rb").read())
        channel = grpc.secure_channel(endpoint, creds)
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=HEALTH_SERVICE), timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND):
                return Finding(Status.WARN, f"health check not answered ({code.name})",
                               "the central has no grpc.health.v1 service for CdrSync: failback "
                               "cannot probe it; tell the CRM team")
            return Finding(Status.FAIL, f"gRPC health check failed ({code.name}: {exc.details()})",
                           "the central accepts connections but its gRPC service does not answer: "
                           "ask the CRM team to check the central")
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return Finding(Status.FAIL, f"health {name}",
                       "the central is up but not taking records (maintenance or shutting down): "
                       "records wait here safely; ask the CRM team when it is back")
    return Finding(Status.PASS, f"health {name}")


def check_central(endpoint: str, central: CentralConfig, site_id: str, *, timeout_s: float = 3.0,
                  now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> CheckResult:
    name = f"central:{endpoint}"
    host, port = split_hostport(endpoint)
    findings: list[Finding] = []
    if not central.plaintext:
        findings.append(client_cert_finding(central, site_id, now()))
        if findings[-1].status is Status.FAIL:
            return combine(name, findings)
    sock, reach = _connect(host, port, timeout_s)
    findings.append(reach)
    if sock is None:
        return combine(name, findings)
    if central.plaintext:
        sock.close()
        findings.append(Finding(Status.PASS, "plaintext (loopback only)"))
    else:
        findings.append(_tls(sock, host, central, timeout_s))
        if findings[-1].status is Status.FAIL:
            return combine(name, findings)
    findings.append(_health(endpoint, central, timeout_s))
    return combine(name, findings)
