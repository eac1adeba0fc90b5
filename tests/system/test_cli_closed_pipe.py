"""`appliance status|outbox|central ... | head`: a reader that goes away ends the command quietly."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.central.backends import open_store
from appliance.central.store import RecordBatch
from appliance.sync.convert import to_pb
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.sync_harness import SITE, call_record, fill_store

pytestmark = pytest.mark.system
APPLIANCE = [sys.executable, "-m", "appliance"]
CLOSED_PIPE = 141           # 128 + SIGPIPE, as `cat` would exit


def into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run `appliance ARGS` with stdout on a real pipe whose reader (a `head` that reads nothing)
    has already exited: every write meets a pipe nobody reads, the moment `| head` leaves."""
    read_end, write_end = os.pipe()
    reader = subprocess.run(["head", "-c", "0"], stdin=read_end, timeout=10)
    assert reader.returncode == 0
    os.close(read_end)
    try:
        return subprocess.run([*APPLIANCE, *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)


def assert_quiet_end(done: subprocess.CompletedProcess) -> None:
    assert done.stderr == "", done.stderr          # no traceback, no "Exception ignored"
    assert done.returncode == CLOSED_PIPE


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A config whose data dir holds 3,000 records (a few hundred KB of export)."""
    root = tmp_path_factory.mktemp("pipe")
    fill_store(root / "data", 3000)
    config = root / "appliance.toml"
    config.write_text(f'[site]\nid = "{SITE}"\ndata_dir = "{root / "data"}"\n'
                      f'[control]\nsocket = "{root / "control.sock"}"\n[metrics]\nlisten = ""\n')
    return config


@pytest.mark.parametrize("args", [
    ("outbox", "stats"), ("outbox", "stats", "--json"),
    ("outbox", "export"), ("outbox", "export", "--what", "outbox"),
])
def test_outbox_commands_end_quietly_on_a_closed_pipe(site, args):
    assert_quiet_end(into_closed_pipe(*args, "--config", str(site)))


def test_outbox_export_into_head_gives_the_first_line_and_no_traceback(site):
    """The way a technician types it: a shell pipeline whose `head` exits after one line."""
    done = subprocess.run(["bash", "-c", 'set -o pipefail; "$@" | head -n 1', "sh", *APPLIANCE,
                           "outbox", "export", "--config", str(site)],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.count("\n") == 1 and '"key"' in done.stdout
    assert done.stderr == ""
    assert done.returncode == CLOSED_PIPE


def test_central_dump_ends_quietly_on_a_closed_pipe(tmp_path):
    db = open_store(str(tmp_path / "central.db"))
    try:
        records = [call_record(i) for i in range(500)]
        db.store_records(SITE, "2026-11-22T12:05:00Z", RecordBatch(
            [r.key for r in records], [r.started_at for r in records],
            [to_pb(r).SerializeToString() for r in records]))
    finally:
        db.close()
    assert_quiet_end(into_closed_pipe("central", "dump", "--db", str(tmp_path / "central.db")))


def test_status_ends_quietly_on_a_closed_pipe(site):
    with DaemonProcess(site) as daemon:
        daemon.start()
        for args in (("status",), ("status", "--json")):
            assert_quiet_end(into_closed_pipe(*args, "--config", str(site)))
        assert daemon.terminate() == 0


def test_an_open_pipe_still_gets_everything(site):
    done = subprocess.run([*APPLIANCE, "outbox", "export", "--config", str(site)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.count("\n") == 3000
