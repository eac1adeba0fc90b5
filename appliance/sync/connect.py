"""Connecting to a central: the channel, reaching READY within a deadline, health probes, why it failed."""
from __future__ import annotations

import asyncio
from typing import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from appliance.sync.aio import within
from appliance.sync.config import HEALTH_SERVICE, CentralConfig
from appliance.sync.tls import diagnose_tls

_TLS_WORDS = ("Tls handshake", "Handshake", "SSL", "certificate", "erification")   # in gRPC's texts


class Connector:
    """Makes channels to the central's endpoints with the site's credentials (None = plaintext)."""

    def __init__(self, config: CentralConfig, credentials, clock: Callable[[], float]):
        self.config = config
        self._credentials = credentials
        self._clock = clock

    def channel(self, endpoint: str) -> grpc.aio.Channel:
        options = self.config.channel_options()
        if self._credentials is None:
            return grpc.aio.insecure_channel(endpoint, options=options)
        return grpc.aio.secure_channel(endpoint, self._credentials, options=options)

    async def connect(self, channel: grpc.aio.Channel, endpoint: str) -> str:
        """Bring the channel to READY within connect_timeout_s. Returns "" or why it failed.

        Like channel_ready() with a deadline, but gives up at the first TRANSIENT_FAILURE instead of
        letting gRPC's own backoff keep trying: failover is our decision.
        """
        deadline = self._clock() + self.config.connect_timeout_s
        state = channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                return await self._explain(channel, endpoint)
            if state == grpc.ChannelConnectivity.SHUTDOWN:
                return "channel shut down"
            remaining = deadline - self._clock()
            if remaining <= 0:
                return (f"no connection within {self.config.connect_timeout_s:g} s "
                        "(central unreachable or not answering the TLS handshake)")
            await within(channel.wait_for_state_change(state), remaining)
            state = channel.get_state(try_to_connect=True)
        return ""

    async def _explain(self, channel: grpc.aio.Channel, endpoint: str) -> str:
        """gRPC's reason for the failed connection, made specific for the TLS cases."""
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            await stub.Check(health_pb2.HealthCheckRequest(service=HEALTH_SERVICE),
                             timeout=self.config.probe_timeout_s, wait_for_ready=False)
            return ""
        except grpc.aio.AioRpcError as exc:
            detail = exc.details() or exc.code().name
        if self._credentials is None:
            return detail
        tls_failed = any(word in detail for word in _TLS_WORDS)
        if tls_failed or "Socket closed" in detail:
            # gRPC's text rarely says which side refused; a plain ssl handshake can.
            diagnosis = await asyncio.to_thread(diagnose_tls, endpoint, self.config)
            if diagnosis:
                return diagnosis
        return f"TLS handshake failed: {detail}" if tls_failed else detail

    async def probe(self, channel: grpc.aio.Channel) -> bool:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=HEALTH_SERVICE),
                                     timeout=self.config.probe_timeout_s, wait_for_ready=False)
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


def describe(exc: BaseException) -> str:
    """One line for status and logs: gRPC's code and details, or what ended the stream."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, asyncio.InvalidStateError):
        return "stream closed while writing"
    return str(exc) or type(exc).__name__
