"""Test helpers: a dev PKI in a tmp dir, the real central as a subprocess, and a blocking Sync stream client."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from appliance.ops.pki import CertPaths, init_pki
from appliance.v1 import cdr_pb2, sync_pb2, sync_pb2_grpc
from tests.helpers.waiting import wait_for

SYNC_SERVICE = "appliance.v1.CdrSync"


@dataclass(frozen=True)
class TestPki:
    """Paths of a PKI made by make_pki(): one CA, the central's cert and one cert per site."""
    __test__ = False        # not a pytest test class despite the name

    dir: Path
    ca: Path
    central_cert: Path
    central_key: Path
    sites: dict[str, CertPaths] = field(default_factory=dict)
    crm: CertPaths | None = None            # a CRM subscriber's client cert (reads live events, writes nothing)

    def server_args(self) -> list[str]:
        """`serve` options for mTLS with this PKI."""
        return ["--cert", str(self.central_cert), "--key", str(self.central_key), "--client-ca", str(self.ca)]

    def central_toml(self, site_id: str, endpoints, **keys) -> str:
        """The site config's [central] table for mTLS to `endpoints` with this PKI; `keys` add settings
        (numbers as they are, strings quoted)."""
        site = self.sites[site_id]
        eps = ", ".join(f'"{e}"' for e in ([endpoints] if isinstance(endpoints, str) else endpoints))
        extra = "".join(f'{k} = {v!r}\n'.replace("'", '"') for k, v in keys.items())
        return (f'[central]\nendpoints = [{eps}]\nca_file = "{self.ca}"\ncert_file = "{site.cert}"\n'
                f'key_file = "{site.key}"\n{extra}')

    def credentials(self, site_id: str | None = None, *, cert: CertPaths | None = None) -> grpc.ChannelCredentials:
        """Client credentials: trust this CA, present the given site's cert ("crm": the CRM client's)."""
        if cert is None and site_id == "crm":
            cert = self.crm
        pair = cert if cert is not None else self.sites[site_id or next(iter(self.sites))]
        return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes(),
                                            private_key=pair.key.read_bytes(),
                                            certificate_chain=pair.cert.read_bytes())


def make_pki(directory: str | os.PathLike, site_id: str = "site-a", extra_sites: tuple[str, ...] = ("site-b",)) -> TestPki:
    """A fresh dev PKI in `directory` (must not hold one yet) with certs for site_id and extra_sites."""
    paths = init_pki(directory, site_id, extra_sites=extra_sites)
    return TestPki(dir=paths.dir, ca=paths.ca.cert, central_cert=paths.central.cert, central_key=paths.central.key,
                   sites={site_id: paths.site, **paths.extra_sites}, crm=paths.crm)


def records_at(db: Path, site_id: str) -> list[cdr_pb2.CallRecord]:
    """A site's records in a SQLite central's file, read-only: none before the file or its table exists."""
    import sqlite3
    if not Path(db).exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT payload FROM records WHERE site_id = ?", (site_id,)).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [cdr_pb2.CallRecord.FromString(r[0]) for r in rows]


def make_record(key: str, site_id: str = "site-a", **fields) -> cdr_pb2.CallRecord:
    """A valid answered inbound call; override any field by name."""
    values = dict(key=key, site_id=site_id, source="pbx1", source_kind="avaya-ipo", direction=cdr_pb2.INBOUND,
                  caller="+15551234567", callee="201", dialled_number="5550100", queue="sales", agent="201",
                  started_at="2026-11-22T12:00:00Z", answered_at="2026-11-22T12:00:05Z",
                  ended_at="2026-11-22T12:03:00Z", ring_s=5, talk_s=175, disposition=cdr_pb2.ANSWERED,
                  pbx_call_id="1000123", leg=1, final_leg=True)
    values.update(fields)
    return cdr_pb2.CallRecord(**values)


class CentralProcess:
    """`python -m appliance.central.cli serve` in a subprocess; ready once grpc.health reports SERVING.

    db_path is the SQLite file; with db (a postgresql:// URL) it only names the log and port files.
    """

    def __init__(self, db_path: str | os.PathLike, *, pki: TestPki | None = None, extra_args: tuple[str, ...] = (),
                 host: str = "127.0.0.1", port: int = 0, db: str | None = None, env: dict | None = None):
        self.db_path = Path(db_path)
        self.db = db or str(self.db_path)
        self.pki = pki
        self.extra_args = tuple(extra_args)
        self.host = host
        self.port = port
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.db_path.with_name(self.db_path.name + ".central.log")
        self._port_file = self.db_path.with_name(self.db_path.name + ".port")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "CentralProcess":
        """Start (or restart on the same port and db) and wait for SERVING, at most `timeout` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("central already running")
        self._port_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "appliance.central.cli", "serve", "--listen", f"{self.host}:{self.port}",
                "--db", self.db, "--port-file", str(self._port_file)]
        if self.pki is not None:
            args += self.pki.server_args()
        args += list(self.extra_args)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env))
        deadline = time.monotonic() + timeout      # _check_alive fails first, with the central's log
        wait_for(lambda: self._check_alive(deadline, "write its port file") or self._port_file.exists(),
                 timeout + 5, message="the central's port file")
        self.port = int(self._port_file.read_text())
        wait_for(lambda: self._check_alive(deadline, "report SERVING") or self.health() == "SERVING",
                 timeout + 5, message="the central SERVING")
        return self

    def _check_alive(self, deadline: float, what: str) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"central exited ({self.proc.returncode}) before it could {what}; log:\n{self.log_text()}")
        if time.monotonic() > deadline:
            self.kill9()
            raise AssertionError(f"central did not {what} in time; log:\n{self.log_text()}")

    def channel(self, site_id: str | None = None, *, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
        """A channel to this central: mTLS as site_id (or with the given credentials), plaintext without a PKI."""
        if credentials is None and self.pki is None:
            return grpc.insecure_channel(self.address)
        return grpc.secure_channel(self.address, credentials or self.pki.credentials(site_id))

    def health(self, service: str = "") -> str:
        """The health service's status name, or "UNREACHABLE"."""
        with self.channel() as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=2)
            except grpc.RpcError:
                return "UNREACHABLE"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"central ignored SIGTERM for {timeout}s; log:\n{self.log_text()}")

    def kill9(self) -> None:
        """A real kill -9: nothing in the central gets to run."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def open_store(self):
        """A reader on this central's database (SQLite file or PostgreSQL), as an integrator would open it."""
        from appliance.central.backends import open_store
        return open_store(self.db, create=False, password=self.env.get("PGPASSWORD"))

    def stored_keys(self, site_id: str = "site-a") -> set[str]:
        with self.open_store() as store:
            return {r.key for r in store.records(site_id)}

    def stored_payload(self, key: str, site_id: str = "site-a") -> bytes | None:
        with self.open_store() as store:
            return store.record_payload(site_id, key)

    def close(self) -> None:
        self.kill9()

    def __enter__(self) -> "CentralProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


_END = object()


class QueuedStream:
    """A blocking bidirectional stream for tests: requests go through a queue, responses are read on
    demand (no thread). Subclasses open the call with `self.requests()` as its request iterator."""

    def __init__(self, first=None):
        self._requests: queue.Queue = queue.Queue()
        if first is not None:
            self._requests.put(first)
        self._call = None

    def requests(self):
        return iter(self._requests.get, _END)

    def send(self, request) -> None:
        self._requests.put(request)

    def receive(self):
        """The next response; raises grpc.RpcError when the central ends the stream with an error."""
        return next(self._call)

    def close(self) -> None:
        self._requests.put(_END)
        self._call.cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SyncStream(QueuedStream):
    """A Sync stream: send one batch, read its response."""

    def __init__(self, channel: grpc.Channel, site_id: str | None, *, timeout: float = 20.0,
                 appliance_version: str = "test"):
        super().__init__(None if site_id is None else sync_pb2.SyncRequest(
            hello=sync_pb2.Hello(site_id=site_id, appliance_version=appliance_version)))
        self._call = sync_pb2_grpc.CdrSyncStub(channel).Sync(self.requests(), timeout=timeout)

    def send_batch(self, batch_id: int, records: list[cdr_pb2.CallRecord]) -> None:
        self.send(sync_pb2.SyncRequest(batch=sync_pb2.CdrBatch(batch_id=batch_id, records=records)))

    def batch(self, batch_id: int, records: list[cdr_pb2.CallRecord]) -> sync_pb2.SyncResponse:
        self.send_batch(batch_id, records)
        return self.receive()
