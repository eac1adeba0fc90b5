"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temp dir, unprivileged, removed after."""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.waiting import free_port

PASSWORD = "central-test-pw"        # the `central` role's password (scram over TCP), for --db-password-file tests


def _bin_dir() -> Path:
    """Debian keeps the server binaries off PATH, in /usr/lib/postgresql/<major>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")


class PgCluster:
    """initdb + postgres on 127.0.0.1:<free port> and a Unix socket in the cluster's own temp dir.

    initdb refuses to run as root, so as root the cluster runs as Debian's `postgres` user.
    Everything lives under one temp dir that close() removes; no system-wide service is involved.
    """

    def __init__(self):
        self.bin = _bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="central-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        self._names = itertools.count(1)
        if self._user:
            info = pwd.getpwnam(self._user)
            os.chown(self.dir, info.pw_uid, info.pw_gid)
        self.dir.chmod(0o755)       # the socket must be reachable by the (root) test process

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                               f"postgres log:\n{self.log_text()}")
        return result

    def init(self) -> "PgCluster":
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._user:
            shutil.chown(pwfile, self._user)
        pwfile.chmod(0o600)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync")
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n"
                       "fsync = on\nsynchronous_commit = on\nshared_buffers = 128MB\n")
        self.start()
        self.psql(f"CREATE ROLE central LOGIN PASSWORD '{PASSWORD}'")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def psql(self, sql: str, db: str = "postgres") -> str:
        return self._run("psql", "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "-d", db,
                         "-v", "ON_ERROR_STOP=1", "-Atqc", sql).stdout

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database owned by the `central` role; returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name} OWNER central")
        return name

    def url(self, db: str, *, tcp: bool = True) -> str:
        """libpq URL as the `central` role: over TCP (password needed) or the Unix socket (trusted)."""
        if tcp:
            return f"postgresql://central@127.0.0.1:{self.port}/{db}"
        return f"postgresql://central@/{db}?host={self.dir}&port={self.port}"

    def superuser_url(self, db: str) -> str:
        return f"postgresql://postgres@/{db}?host={self.dir}&port={self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        return self.init()

    def __exit__(self, *exc) -> None:
        self.close()
