"""gRPC core's own stderr lines become the central's log: one clear line per refused handshake,
internal chatter at debug, and whatever else the process writes to stderr still reaches it."""
from __future__ import annotations

import logging
import subprocess
import sys

from appliance.central.core_log import classify


def test_core_lines_are_classified_and_other_lines_pass_through():
    refused = ("I1130 13:26:02.960276   14655 ssl_transport_security.cc:2563] Handshake failed with error "
               "SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: "
               "certificate has expired")
    assert classify(refused) == (logging.WARNING, "TLS handshake refused: CERTIFICATE_VERIFY_FAILED: "
                                                  "certificate has expired")
    note = ("W1130 13:26:41.000000    1 log.cc:110] Log level INFO is not suitable for production. Prefer "
            "WARNING or ERROR.")
    assert classify(note)[0] == logging.DEBUG
    failure = "E1130 13:26:41.000001    7 chttp2_server.cc:1051] bind failed: Address already in use"
    assert classify(failure) == (logging.ERROR, "grpc core (chttp2_server.cc): bind failed: Address already in use")
    assert classify("Traceback (most recent call last):") is None
    assert classify("2026-11-30 13:26:41,045 INFO appliance.central: serving") is None


def test_what_the_process_says_on_stderr_before_it_exits_still_reaches_the_operator(tmp_path):
    """A central that cannot start says why on stderr, through the pipe, before it exits."""
    out = subprocess.run([sys.executable, "-m", "appliance", "central", "serve", "--listen", "127.0.0.1:0",
                          "--db", str(tmp_path / "missing-dir" / "central.db")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "central.db" in out.stderr and "Traceback" not in out.stderr, out.stderr
