"""The [central] table: how the site reaches the central (endpoints, mTLS files, windows, timings)."""
from __future__ import annotations

from dataclasses import dataclass

from appliance.common.hostport import is_loopback, split_hostport

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
HEALTH_SERVICE = "appliance.v1.CdrSync"      # grpc.health.v1 service probed before failing back


@dataclass(frozen=True)
class CentralConfig:
    """The [central] table, key for key. Endpoints are "host:port" in failover order (primary first).

    No endpoints means no central (records are kept locally). Every problem is a ValueError whose
    message starts with the key, so the config loader can name file, table and key.
    """
    endpoints: tuple[str, ...] = ()
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    plaintext: bool = False             # only when every endpoint is loopback (tests, demos)
    tls_server_name: str = ""           # name to verify in the central's cert when it differs from the host
    batch_size: int = 1000              # records per message (a drain: fewer per-batch costs at the central)
    max_in_flight_batches: int = 4      # unacknowledged batches on the wire
    failback_after: float = 30.0        # seconds the primary must be healthy before we return to it
    reconnect_delay: float = 0.5        # after a whole round of endpoints failed; doubles...
    reconnect_delay_max: float = 10.0   # ...up to this cap
    connect_timeout_s: float = 1.5      # TCP + TLS + HTTP/2 settings must finish within this
    keepalive_time_s: float = 1.0       # gRPC keepalive ping period: finds a black-holed central
    keepalive_timeout_s: float = 1.0
    ack_timeout_s: float = 3.0          # batches in flight and no response for this long: central is silent
    probe_interval_s: float = 2.0       # health probes of better endpoints while on a worse one
    probe_timeout_s: float = 1.0
    poll_interval_s: float = 1.0        # look for new records even without a wake-up
    drain_timeout_s: float = 1.0        # on failback, wait this long for in-flight acks before switching

    def __post_init__(self):
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        hosts = []
        for ep in self.endpoints:
            try:
                hosts.append(split_hostport(ep)[0])
            except ValueError:
                raise ValueError(f"endpoints: {ep!r}: expected HOST:PORT") from None
        if self.endpoints and self.plaintext:
            far = [ep for ep, host in zip(self.endpoints, hosts) if not is_loopback(host)]
            if far:
                raise ValueError(f"plaintext: only allowed when every endpoint is on loopback (plaintext is "
                                 f"for tests and demos on loopback; not loopback: {', '.join(far)}); "
                                 f"configure ca_file, cert_file and key_file for mTLS")
        elif self.endpoints:
            missing = [name for name in ("ca_file", "cert_file", "key_file") if not getattr(self, name)]
            if missing:
                raise ValueError(f"{missing[0]}: missing (mTLS needs {', '.join(missing)}; "
                                 f"plaintext only on loopback)")
        for name in ("batch_size", "max_in_flight_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        for name in ("connect_timeout_s", "keepalive_time_s", "keepalive_timeout_s", "ack_timeout_s",
                     "probe_interval_s", "probe_timeout_s", "poll_interval_s", "reconnect_delay",
                     "reconnect_delay_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.reconnect_delay_max < self.reconnect_delay:
            raise ValueError("reconnect_delay_max: must be >= reconnect_delay")
        if self.failback_after < 0 or self.drain_timeout_s < 0:
            raise ValueError("failback_after / drain_timeout_s: must be >= 0")

    def channel_options(self) -> list[tuple[str, int | str]]:
        """Keepalive finds a silent central; short reconnect backoff because *we* decide when to retry."""
        options: list[tuple[str, int | str]] = [
            ("grpc.keepalive_time_ms", int(self.keepalive_time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout_s * 1000)),
            # gRPC core enforces the ping-ack wait through ping_timeout (keepalive_timeout alone does
            # not close a black-holed transport in 1.85): keep the two equal.
            ("grpc.http2.ping_timeout_ms", int(self.keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.enable_retries", 0),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # One channel per session: never share a subchannel with the health probes.
            ("grpc.use_local_subchannel_pool", 1),
        ]
        if self.tls_server_name:
            options.append(("grpc.ssl_target_name_override", self.tls_server_name))
        return options
