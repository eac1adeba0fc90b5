"""The site's TLS side of sync: load the mTLS credentials, and say which side refused a handshake."""
from __future__ import annotations

import socket
import ssl

import grpc

from appliance.common.hostport import split_hostport
from appliance.sync.config import CentralConfig


def load_credentials(config: CentralConfig) -> grpc.ChannelCredentials:
    """Read the PEM files once at start-up: a missing file is a configuration error, said clearly."""
    blobs = []
    for name in ("ca_file", "key_file", "cert_file"):
        path = getattr(config, name)
        try:
            with open(path, "rb") as fh:
                blobs.append(fh.read())
        except OSError as exc:
            raise ValueError(f"sync: cannot read {name} {path!r}: {exc.strerror}") from exc
    ca, key, cert = blobs
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def diagnose_tls(endpoint: str, config: CentralConfig) -> str:
    """Repeat the handshake with Python's ssl to say *which* side refused (gRPC only says 'Socket closed').

    A central that does not accept our client certificate completes the TLS 1.3 handshake and then
    closes the connection without a word; one we do not trust fails our verification.
    """
    host, port = split_hostport(endpoint)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(config.ca_file)
        ctx.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as exc:
        return f"TLS: cannot load our certificate files: {exc}"
    ctx.set_alpn_protocols(["h2"])
    timeout = config.connect_timeout_s
    handshake_done = False
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=config.tls_server_name or host) as tls:
                handshake_done = True
                tls.settimeout(timeout)
                if tls.recv(1):
                    return ""               # the central talks to us: not a certificate problem
    except ssl.SSLCertVerificationError as exc:
        return (f"TLS: the central's certificate failed verification against ca_file {config.ca_file}: "
                f"{exc.verify_message}")
    except ssl.SSLError as exc:
        return (f"TLS: the central refused our client certificate {config.cert_file} "
                f"({exc.reason or exc}); it must be issued by the CA the central trusts for sites")
    except (socket.timeout, TimeoutError):
        return ""
    except OSError:
        if not handshake_done:
            return ""
    return (f"TLS: the central closed the connection right after the handshake: it does not accept "
            f"our client certificate {config.cert_file} (not issued by the CA it trusts for sites, "
            "expired or revoked)")
