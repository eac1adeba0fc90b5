"""The store's health on real parts: a full tmpfs is a full disk (never corruption), one daemon per data
dir (flock), the ballast gives real space back, the writer retries at once, the control socket
carries arguments."""
from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys

import pytest

from appliance.ops.control import ControlServer, request
from appliance.store import Store, StoreWriter
from appliance.common.backoff import BackoffPolicy
from appliance.store.ballast import Ballast
from appliance.store.errors import FULL, LOCKED, classify
from appliance.store.lock import DataDirBusy, DataDirLock
from tests.appliance.test_store import SITE, rec
from tests.helpers.tmpfs import fill, needs_root, tmpfs
from tests.helpers.waiting import wait_for


@needs_root
def test_a_full_disk_is_never_taken_for_corruption(tmp_path):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        data = disk / "data"
        with Store(data, site_id=SITE) as s:
            s.add([rec(i) for i in range(300)])
        filler = fill(disk)
        with pytest.raises(sqlite3.OperationalError) as failure:
            Store(data, site_id=SITE)                          # quick_check: "disk I/O error"
        assert classify(failure.value, data) == FULL
        assert sorted(p.name for p in data.iterdir() if "corrupt" in p.name) == []
        filler.unlink()
        with Store(data, site_id=SITE) as s:
            assert s.recovered_from is None and s.stats()["pending"] == 300


def test_a_locked_database_is_locked_not_corrupt(tmp_path):
    Store(tmp_path, site_id=SITE).close()
    holder = sqlite3.connect(tmp_path / "appliance.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError) as failure:
            Store(tmp_path, site_id=SITE, busy_timeout_s=0.1)
        assert classify(failure.value, tmp_path) == LOCKED
    finally:
        holder.rollback()
        holder.close()
    assert not list(tmp_path.glob("*corrupt*"))


def test_one_holder_per_data_dir_and_the_second_learns_the_first_ones_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from appliance.store.lock import DataDirLock\n"
                               f"DataDirLock({str(tmp_path)!r}).acquire(); print('held', flush=True)\n"
                               "sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(DataDirBusy) as busy:
            DataDirLock(tmp_path).acquire()
        assert busy.value.pid == holder.pid and f"pid {holder.pid}" in str(busy.value)
        holder.kill()                                          # a kill -9 leaves no stale lock
        holder.wait(10)
        with DataDirLock(tmp_path) as lock:
            assert lock.held and (tmp_path / "appliance.lock").read_text() == f"{os.getpid()}\n"
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdin.close()
        holder.stdout.close()


@needs_root
def test_the_ballast_holds_real_space_and_gives_it_back(tmp_path):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        ballast = Ballast(disk, 2 << 20)
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        ballast.create()
        assert ballast.present
        held = free - os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        assert held >= 2 << 20                                 # allocated, not a sparse hole
        filler = fill(disk)
        assert ballast.release() >= 2 << 20 and not ballast.present
        assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize >= 2 << 20
        with pytest.raises(OSError):
            fill(disk, "more")
            ballast.create()                                   # no room: nothing half-made is left
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "more"]
        filler.unlink()


def test_retry_now_cuts_the_writer_back_off_short(tmp_path):
    Store(tmp_path, site_id=SITE).close()
    cap = {"bytes": 16 * 1024}
    writer = StoreWriter(lambda: Store(tmp_path, site_id=SITE, check=False, max_db_bytes=cap["bytes"]),
                         retry=BackoffPolicy(base_s=600.0, cap_s=600.0))
    try:
        writer.submit([rec(i, raw="x" * 4000) for i in range(20)])
        wait_for(lambda: writer.errors >= 1, message="a failed commit")
        cap["bytes"] = None
        writer.retry_now()                                     # instead of waiting ten minutes
        assert writer.flush(10) and writer.healthy
    finally:
        writer.close(5)


def test_force_queues_past_the_bound(tmp_path):
    writer = StoreWriter(lambda: Store(tmp_path, site_id=SITE, check=False), max_pending=5)
    try:
        assert writer.submit([rec(i) for i in range(5)])
        assert writer.submit([rec(i) for i in range(5, 10)], force=True, timeout=0)
        assert writer.flush(10)
    finally:
        writer.close(5)
    with Store(tmp_path, site_id=SITE) as s:
        assert s.stats()["stored"] == 10


def test_the_control_socket_carries_arguments_and_keeps_the_bare_status_request(tmp_path):
    path = str(tmp_path / "control.sock")

    async def add(a: int, b: int) -> dict:
        await asyncio.sleep(0)
        return {"sum": a + b}

    async def scenario():
        server = ControlServer(path, {"status": lambda: {"ok": True}, "add": add})
        await server.start()
        try:
            ask = asyncio.to_thread
            assert await ask(request, path) == {"ok": True}
            assert await ask(request, path, "add", 5.0, {"a": 2, "b": 3}) == {"sum": 5}
            bad = await ask(request, path, "add", 5.0, {"c": 1})
            assert "unexpected keyword argument" in bad["error"]
            unknown = await ask(request, path, "nope", 5.0, {})
            assert unknown["commands"] == ["add", "status"]
        finally:
            await server.close()

    asyncio.run(scenario())
