"""Checks of local storage: the data directory (space, writability, fsync latency) and the record store."""
from __future__ import annotations

import errno
import os
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from appliance.store import DB_NAME, NoDatabase, Store, StoreError
from appliance.store.files import connect_read_only, moved_aside_files
from appliance.store.salvage import describe
from appliance.store.schema import SCHEMA_VERSION

from .result import CheckResult, Finding, Status, combine, failed, warned

GIB = 1024 ** 3
MIB = 1024 ** 2

_RESTART_HINT = ("stop and start the daemon (systemctl restart appliance): on start it moves a "
                 "damaged database aside, keeps it for support and begins a new one")


@dataclass(frozen=True)
class DiskThresholds:
    warn_free_bytes: int = 1 * GIB
    warn_free_fraction: float = 0.10
    fail_free_bytes: int = 100 * MIB
    fsync_warn_ms: float = 50.0
    fsync_probes: int = 5
    probe_bytes: int = 4096


@dataclass(frozen=True)
class BacklogThresholds:
    warn_age_s: float = 3600.0
    fail_age_s: float = 86400.0


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _space(path: Path, limits: DiskThresholds) -> Finding:
    st = os.statvfs(path)
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    fraction = free / total if total else 0.0
    text = f"{_human_bytes(free)} free ({fraction:.0%} of {_human_bytes(total)})"
    if free < limits.fail_free_bytes:
        return Finding(Status.FAIL, text,
                       "the disk holding the data directory is full: records cannot be stored "
                       "safely; free space (old logs: `journalctl --vacuum-size=200M`) or fit a "
                       "bigger disk")
    if free < limits.warn_free_bytes or fraction < limits.warn_free_fraction:
        return Finding(Status.WARN, text,
                       "the data disk is getting full: check the central is receiving records "
                       "(the outbox drains when it does) and free space before it runs out")
    return Finding(Status.PASS, text)


def _write_probe(path: Path, limits: DiskThresholds) -> Finding:
    """Write and fsync a small file a few times: proves writability, measures commit latency."""
    latencies = []
    fd, name = tempfile.mkstemp(dir=path, prefix=".selftest-")
    try:
        block = os.urandom(limits.probe_bytes)
        for _ in range(max(1, limits.fsync_probes)):
            start = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fsync(fd)
            latencies.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        os.unlink(name)
    p50 = statistics.median(latencies)
    text = f"write+fsync p50 {p50:.1f} ms"
    if p50 > limits.fsync_warn_ms:
        return Finding(Status.WARN, text,
                       "the disk is slow to make writes durable (a worn SD card or a busy disk): "
                       "calls may be stored late under load; plan to replace the storage")
    return Finding(Status.PASS, text)


def check_data_dir(data_dir: str, limits: DiskThresholds = DiskThresholds()) -> CheckResult:
    path = Path(data_dir)
    if not path.exists():
        parent = _nearest_existing(path)
        return combine("data_dir", [
            Finding(Status.WARN, f"{path} does not exist yet",
                    f"start the daemon once (systemctl start appliance), which creates it, or "
                    f"create it: install -d -o appliance -g appliance -m 0700 {path}"),
            _space(parent, limits)])
    if not path.is_dir():
        return failed("data_dir", f"{path} is not a directory",
                      f"site.data_dir must name a directory: move {path} away or fix the config")
    try:
        probe = _write_probe(path, limits)
    except OSError as exc:
        space = _space(path, limits)
        if exc.errno == errno.EROFS:
            hint = ("the file system is read-only (often remounted after disk errors): look at "
                    "`dmesg`, then repair or replace the disk")
        elif exc.errno in (errno.EACCES, errno.EPERM):
            hint = (f"the self-test user cannot write there: "
                    f"`chown -R appliance:appliance {path}` and `chmod 0700 {path}`")
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the disk is full: free space or fit a bigger disk"
        else:
            hint = "check the disk with `dmesg` for I/O errors; replace it if they repeat"
        return combine("data_dir", [Finding(Status.FAIL, f"{path}: cannot write ({exc.strerror})", hint),
                                    space])
    return combine("data_dir", [Finding(Status.PASS, f"{path} writable"), _space(path, limits), probe])


def _readonly_connect(db: Path) -> sqlite3.Connection:
    """Read without creating a file (not even -wal/-shm): the self-test often runs as root."""
    return connect_read_only(db, 5.0)


def _daemon_store(control_socket: str | None) -> Finding | None:
    """FAIL when the running daemon reports its store degraded (disk full, I/O, locked ...)."""
    if not control_socket:
        return None
    from appliance.ops.control import DaemonNotRunning, request
    try:
        store = request(control_socket, timeout=3.0).get("store") or {}
    except (DaemonNotRunning, OSError, ValueError):
        return None
    if store.get("state") != "degraded":
        return None
    return Finding(Status.FAIL, f"the daemon reports the store degraded for {store.get('degraded_for_s')} s "
                                f"({store.get('problem')}: {store.get('detail')}): device input is held",
                   store.get("fix") or "see `appliance status`")


def _salvage(data_dir: str, store: Store) -> list[Finding]:
    """Salvage reports not yet acknowledged, and databases moved aside that no salvage has read."""
    out = []
    for r in store.salvage_reports():
        lost = r.get("outcome") == "failed" or r.get("records_lost") or r.get("pending_lost")
        out.append(Finding(Status.FAIL if lost else Status.WARN, f"salvage #{r['id']}: {describe(r)}",
                           "details: `appliance store reports`; the damaged file stays beside the "
                           "database for support; once seen: `appliance store acknowledge`"))
    done = store.salvaged_sources()
    left = [p for p in moved_aside_files(Path(data_dir)) if str(p.resolve()) not in done]
    if left:
        out.append(Finding(Status.WARN, f"{len(left)} damaged database(s) not salvaged yet: "
                                        f"{', '.join(p.name for p in left)}",
                           f"restart the daemon (it salvages them), or `appliance store salvage {left[0]}`"))
    return out


def check_store(data_dir: str, site_id: str, *, now: Callable[[], float] = time.time,
                limits: BacklogThresholds = BacklogThresholds(),
                control_socket: str | None = None) -> CheckResult:
    """Integrity, schema version, the daemon's view of its store, how old the oldest undelivered
    record is, dead letters and salvage reports. Reads only: creates no file, not even the database."""
    db = Path(data_dir) / DB_NAME
    if not db.exists():
        missing = NoDatabase(db)
        hint = ("check site.data_dir in the configuration" if not db.parent.exists()
                else "the daemon creates it on its first start: systemctl start appliance")
        return failed("store", str(missing), hint)
    degraded = _daemon_store(control_socket)
    if degraded is not None:              # the daemon knows best: its store cannot be used now
        return combine("store", [degraded])
    try:
        conn = _readonly_connect(db)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return warned("store", f"{db}: busy, could not check it ({exc})",
                          "the daemon was writing a large batch: run the self-test again")
        return failed("store", f"{db}: cannot read ({exc})",
                      "check the file's owner and mode (appliance, 0600) and the disk with `dmesg`")
    except sqlite3.DatabaseError as exc:
        return failed("store", f"{db}: damaged ({exc})", _RESTART_HINT)
    except StoreError as exc:
        return warned("store", str(exc), "the self-test reads the store without writing anything")
    if rows != ["ok"]:
        return failed("store", f"{db}: quick_check found damage: {'; '.join(rows[:2])}", _RESTART_HINT)
    findings = [Finding(Status.PASS, f"quick_check ok, schema v{version}")]
    if version > SCHEMA_VERSION:
        findings.append(Finding(Status.FAIL, f"schema v{version} is newer than this release "
                                             f"understands (v{SCHEMA_VERSION})",
                                "the database was written by a newer release: reinstall that "
                                "release; never downgrade over a newer database"))
        return combine("store", findings)
    if version < SCHEMA_VERSION:
        findings.append(Finding(Status.WARN, f"schema v{version} is older than v{SCHEMA_VERSION}",
                                "restart the daemon after the upgrade: it migrates the database "
                                "on start (systemctl restart appliance)"))
        return combine("store", findings)
    try:
        with Store(data_dir, site_id=site_id, read_only=True, now=now) as store:
            stats = store.stats()
            findings += _salvage(data_dir, store)
    except (sqlite3.Error, StoreError) as exc:
        findings.append(Finding(Status.WARN, f"backlog not read ({exc})",
                                "the daemon was busy writing: run the self-test again"))
        return combine("store", findings)
    findings.append(_backlog(stats, limits))
    if stats["dead_letter"]:
        findings.append(Finding(Status.WARN, f"{stats['dead_letter']} record(s) refused by the central",
                                "see why with `appliance outbox export --what dead_letter`; once "
                                "the cause is fixed, `appliance outbox replay --rejected`"))
    if stats["rejected_raw"]:
        findings.append(Finding(Status.PASS, f"{stats['rejected_raw']} unparseable input(s) kept"))
    return combine("store", findings)


def _backlog(stats: dict, limits: BacklogThresholds) -> Finding:
    pending, age = stats["pending"], stats["oldest_pending_age_s"]
    if not pending or age is None:
        return Finding(Status.PASS, f"{stats['stored']} record(s) stored, none waiting to be sent")
    text = f"{pending} record(s) waiting to be sent, oldest {human_age(age)} old"
    hint = ("records are not reaching the central: look at the central:* checks; nothing is lost, "
            "the daemon sends them once the central is reachable")
    if age > limits.fail_age_s:
        return Finding(Status.FAIL, text, hint + " (more than a day behind: tell the CRM team)")
    if age > limits.warn_age_s:
        return Finding(Status.WARN, text, hint)
    return Finding(Status.PASS, text)


def last_stored_at(data_dir: str, source: str) -> float | None:
    """Epoch seconds when the newest record from `source` was stored; None if none (or no db)."""
    db = Path(data_dir) / DB_NAME
    if not db.exists():
        return None
    try:
        conn = _readonly_connect(db)
    except (sqlite3.Error, StoreError):
        return None
    try:
        row = conn.execute("SELECT MAX(stored_at) FROM cdr WHERE source = ?", (source,)).fetchone()
    except sqlite3.OperationalError:
        return None                     # no cdr table yet
    finally:
        conn.close()
    return None if row is None or row[0] is None else float(row[0])
