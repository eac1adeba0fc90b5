"""The `serve` and `dump` commands as an operator runs them: JSON lines out, graceful stop on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import grpc
import pytest

from appliance.v1 import sync_pb2, sync_pb2_grpc
from tests.helpers.central_proc import CentralProcess, SyncStream, make_record
from tests.helpers.waiting import wait_for


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.central.cli", *args],
                          capture_output=True, text=True, timeout=30, env=dict(os.environ, **(env or {})))


def dump(central: CentralProcess, *args: str) -> list[dict]:
    result = run_cli("dump", "--db", central.db, *args, env=central.env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_dump_prints_one_json_object_per_record_with_proto_field_names(central, key_prefix):
    records = [make_record(f"{key_prefix}{i}", caller=f"+4420712345{i:02d}") for i in range(3)]
    with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
        stream.batch(1, records)

    lines = dump(central, "--site", "site-a")
    mine = [obj for obj in lines if obj["key"].startswith(key_prefix)]
    assert [obj["key"] for obj in mine] == [r.key for r in records], "arrival order"
    first = mine[0]
    assert first["siteId"] == "site-a"
    assert first["startedAt"] == "2026-11-22T12:00:00Z"
    assert first["caller"] == "+442071234500", "records are never masked"
    assert first["direction"] == "INBOUND" and first["disposition"] == "ANSWERED"
    assert first["talkS"] == 175 and first["finalLeg"] is True
    assert first["recordingRef"] == "", "fields at their default value are printed too"
    assert first["receivedAt"].endswith("Z")


def test_dump_selftests(central):
    with central.channel("site-a") as channel:
        sync_pb2_grpc.CdrSyncStub(channel).ReportSelfTest(
            sync_pb2.SelfTestReport(site_id="site-a", run_id="dump-run", verdict=sync_pb2.PASS), timeout=10)
    reports = dump(central, "--selftests")
    assert {"siteId": "site-a", "runId": "dump-run", "verdict": "PASS"}.items() <= \
        next(r for r in reports if r["runId"] == "dump-run").items()


def test_dump_of_a_missing_db_is_a_clear_error(tmp_path):
    result = run_cli("dump", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 1
    assert "no central database" in result.stderr
    assert not (tmp_path / "nope.db").exists(), "dump must not create a db"


def test_unknown_subcommand_prints_usage():
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "serve" in result.stderr and "dump" in result.stderr


def test_serve_reports_a_port_in_use(tmp_path, central):
    result = run_cli("serve", "--listen", f"127.0.0.1:{central.port}", "--db", str(tmp_path / "c.db"))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr


def test_sigterm_finishes_the_batch_in_flight_then_ends_streams(tmp_path):
    db = tmp_path / "slow.db"
    with CentralProcess(db, extra_args=("--ack-delay-ms", "1500")) as proc, proc.channel() as channel, \
            SyncStream(channel, "site-a") as stream:
        stream.send_batch(1, [make_record("inflight-1"), make_record("inflight-2")])
        wait_for(lambda: "inflight-2" in proc.stored_keys(), timeout=10,
                 message="the batch to be committed (its ack is held back by --ack-delay-ms)")
        proc.proc.send_signal(signal.SIGTERM)

        response = stream.receive()
        assert [a.status for a in response.acks] == [sync_pb2.STORED, sync_pb2.STORED]
        with pytest.raises(grpc.RpcError) as err:
            stream.receive()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in err.value.details()
        assert proc.stop() == 0
    assert "stop requested" in proc.log_text()


def test_serve_on_postgres_reads_the_password_file_and_never_logs_a_password(pg, pki, tmp_path):
    from tests.helpers.pg_cluster import PASSWORD
    password_file = tmp_path / "db-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    db = pg.new_database()
    with CentralProcess(tmp_path / "pw.db", pki=pki, db=pg.url(db),
                        extra_args=("--db-password-file", str(password_file))) as proc:
        assert proc.health() == "SERVING"
        assert proc.stop() == 0
    assert f"db postgresql://central@127.0.0.1:{pg.port}/{db}" in proc.log_text()
    # A password put in the URL anyway still never reaches the log (nor does the file's).
    url = pg.url(db).replace("central@", f"central:{PASSWORD}@")
    with CentralProcess(tmp_path / "url.db", pki=pki, db=url) as proc:
        assert proc.health() == "SERVING"
    assert "central:***@" in proc.log_text()
    for log_text in (proc.log_text(), (tmp_path / "pw.db.central.log").read_text()):
        assert PASSWORD not in log_text


def test_serve_says_clearly_when_postgres_refuses_the_password(pg, pki, tmp_path):
    db = pg.new_database()
    result = run_cli("serve", "--listen", "127.0.0.1:0", "--db", pg.url(db), *pki.server_args(),
                     env={"PGPASSWORD": "wrong-password"})
    assert result.returncode == 1
    assert "password authentication failed" in result.stderr and "wrong-password" not in result.stderr
