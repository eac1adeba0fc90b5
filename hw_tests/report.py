"""Send a self-test report to the central (unary ReportSelfTest over the configured mTLS channel)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import grpc

from appliance import __version__
from appliance.config import CentralConfig
from appliance.v1 import sync_pb2, sync_pb2_grpc

from .result import CheckResult, Status

_STATUS = {Status.PASS: sync_pb2.PASS, Status.WARN: sync_pb2.WARN, Status.FAIL: sync_pb2.FAIL,
           Status.SKIP: sync_pb2.SKIP}


@dataclass(frozen=True)
class ReportOutcome:
    sent: bool
    endpoint: str             # the central that took it ("" when none did)
    message: str              # one line for the technician


def build_report(site_id: str, run_id: str, started_at: str, results: Sequence[CheckResult],
                 verdict: Status) -> sync_pb2.SelfTestReport:
    return sync_pb2.SelfTestReport(
        site_id=site_id, run_id=run_id, started_at=started_at, verdict=_STATUS[verdict],
        appliance_version=__version__,
        checks=[sync_pb2.CheckResult(name=r.name, status=_STATUS[r.status], detail=r.detail,
                                     hint=r.hint, duration_ms=r.duration_ms) for r in results])


def _channel(central: CentralConfig, endpoint: str) -> grpc.Channel:
    if central.plaintext:
        return grpc.insecure_channel(endpoint)
    with open(central.ca_file, "rb") as ca, open(central.key_file, "rb") as key, \
            open(central.cert_file, "rb") as cert:
        creds = grpc.ssl_channel_credentials(root_certificates=ca.read(), private_key=key.read(),
                                             certificate_chain=cert.read())
    return grpc.secure_channel(endpoint, creds)


def send_report(central: CentralConfig, report: sync_pb2.SelfTestReport, *,
                timeout_s: float = 5.0, budget_s: float = 15.0) -> ReportOutcome:
    """Try each endpoint in failover order until one acknowledges; never raises.

    Each attempt has a `timeout_s` deadline and all of them together stay within `budget_s`.
    The run_id makes a re-send harmless: the central answers DUPLICATE for a report it has.
    """
    if not central.endpoints:
        return ReportOutcome(False, "", "no central configured")
    problems = []
    deadline = time.monotonic() + budget_s
    for endpoint in central.endpoints:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            problems.append(f"{endpoint}: not tried (time is up)")
            continue
        try:
            with _channel(central, endpoint) as channel:
                ack = sync_pb2_grpc.CdrSyncStub(channel).ReportSelfTest(
                    report, timeout=min(timeout_s, remaining))
        except grpc.RpcError as exc:
            problems.append(f"{endpoint}: {exc.code().name}: {exc.details()}")
            continue
        except Exception as exc:           # unreadable cert files, bad endpoint: say it, go on
            problems.append(f"{endpoint}: {type(exc).__name__}: {exc}")
            continue
        if ack.status in (sync_pb2.STORED, sync_pb2.DUPLICATE):
            return ReportOutcome(True, endpoint, f"report sent to {endpoint} "
                                                 f"({sync_pb2.AckStatus.Name(ack.status).lower()})")
        problems.append(f"{endpoint}: report refused: {ack.reason or sync_pb2.AckStatus.Name(ack.status)}")
    return ReportOutcome(False, "", "report not sent: " + "; ".join(problems))
