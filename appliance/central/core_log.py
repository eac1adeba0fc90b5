"""gRPC core's own log lines (its C++ writes them straight to stderr) turned into the central's log.

A refused TLS handshake becomes one clear line (`TLS handshake refused: CERTIFICATE_VERIFY_FAILED:
unable to get local issuer certificate`); gRPC's other internal lines go to the debug level (warnings
and errors stay warnings and errors). Anything else written to stderr (Python's own output) passes
through unchanged.

How: stderr (descriptor 2) becomes a pipe read by one thread; Python's logging keeps writing to the
real stderr through `stream`, so the reader never writes into the pipe it drains.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
from typing import IO

log = logging.getLogger("appliance.central")

# absl/gpr format: "I1130 13:26:02.960276   14655 ssl_transport_security.cc:2563] message"
_CORE_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ ([\w./-]+):\d+\] (.*)$")
_HANDSHAKE = re.compile(r"Handshake failed with error \w+: (?:error:[0-9a-fA-F]+:[^:]*:[^:]*:)?(.*)$")
_LEVELS = {"I": logging.DEBUG, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}


def classify(line: str) -> tuple[int, str] | None:
    """(level, message) for a gRPC core line; None for any other line (passed through as it is)."""
    m = _CORE_LINE.match(line)
    if m is None:
        return None
    severity, source, text = m.groups()
    handshake = _HANDSHAKE.search(text)
    if handshake is not None:
        return logging.WARNING, f"TLS handshake refused: {handshake.group(1).strip()}"
    if "is not suitable for production" in text:       # gRPC's note on the INFO verbosity core_log needs
        return logging.DEBUG, f"grpc core ({source}): {text}"
    return _LEVELS[severity], f"grpc core ({source}): {text}"


def route_core_log() -> IO[str]:
    """Send descriptor 2 through the reader; returns the real stderr for Python's logging handler.
    Call once, before gRPC is imported, in a process that owns its stderr (`central serve`)."""
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    stream = os.fdopen(real, "w", buffering=1, encoding="utf-8", errors="replace")
    reader = threading.Thread(target=_pump, args=(read_end, stream), name="grpc-core-log", daemon=True)
    reader.start()

    def restore() -> None:
        """At exit (after Python printed any traceback into the pipe): stderr back, the pipe drained."""
        sys.stderr.flush()
        os.dup2(stream.fileno(), 2)           # the pipe's last writer closes: the reader sees its end
        reader.join(5)

    atexit.register(restore)
    return stream


def _pump(fd: int, out: IO[str]) -> None:
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            found = classify(line.rstrip("\n"))
            if found is None:
                out.write(line)
                out.flush()
            else:
                log.log(*found)
