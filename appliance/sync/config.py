"""How the site reaches the central: endpoints, mTLS files, windows and timings, gRPC channel options."""
from __future__ import annotations

from dataclasses import dataclass

from appliance.sync.endpoints import is_loopback, split_endpoint

MAX_MESSAGE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class SyncConfig:
    """How the site reaches the central. Endpoints are "host:port" in failover order (primary first)."""
    endpoints: tuple[str, ...]
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    plaintext: bool = False             # only when every endpoint is loopback (tests, demos)
    tls_server_name: str = ""           # name to verify in the central's cert when it differs from the host
    batch_size: int = 500
    max_in_flight_batches: int = 4
    failback_after_s: float = 30.0
    reconnect_delay_s: float = 0.5
    reconnect_delay_max_s: float = 10.0
    connect_timeout_s: float = 1.5      # TCP + TLS + HTTP/2 settings must finish within this
    keepalive_time_s: float = 1.0       # gRPC keepalive ping period: finds a black-holed central
    keepalive_timeout_s: float = 1.0
    ack_timeout_s: float = 3.0          # batches in flight and no response for this long: central is silent
    probe_interval_s: float = 2.0       # health probes of better endpoints while on a worse one
    probe_timeout_s: float = 1.0
    poll_interval_s: float = 1.0        # look for new records even without wake()
    drain_timeout_s: float = 1.0        # on failback, wait this long for in-flight acks before switching
    health_service: str = "appliance.v1.CdrSync"   # grpc.health.v1 service probed for failback

    def __post_init__(self):
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        if not self.endpoints:
            raise ValueError("sync: at least one central endpoint is required")
        hosts = [split_endpoint(ep)[0] for ep in self.endpoints]
        if self.plaintext:
            far = [ep for ep, host in zip(self.endpoints, hosts) if not is_loopback(host)]
            if far:
                raise ValueError(f"sync: plaintext is only allowed when every endpoint is on loopback; "
                                 f"not loopback: {', '.join(far)} (configure ca_file, cert_file, key_file)")
        else:
            missing = [name for name in ("ca_file", "cert_file", "key_file") if not getattr(self, name)]
            if missing:
                raise ValueError(f"sync: mTLS needs {', '.join(missing)} (plaintext only on loopback)")
        if self.batch_size < 1 or self.max_in_flight_batches < 1:
            raise ValueError("sync: batch_size and max_in_flight_batches must be >= 1")
        for name in ("connect_timeout_s", "keepalive_time_s", "keepalive_timeout_s", "ack_timeout_s",
                     "probe_interval_s", "probe_timeout_s", "poll_interval_s", "reconnect_delay_s",
                     "reconnect_delay_max_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sync: {name} must be > 0")
        if self.failback_after_s < 0 or self.drain_timeout_s < 0:
            raise ValueError("sync: failback_after_s and drain_timeout_s must be >= 0")

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
