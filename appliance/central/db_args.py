"""The central's database on the command line: `--db` and its password file, shared by serve, dump and stats."""
from __future__ import annotations

import argparse
import os
import stat
import sys


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="FILE|URL",
                        help="SQLite file, or a libpq URL postgresql://USER@HOST[:PORT]/DB[?sslmode=...]")
    parser.add_argument("--db-password-file", metavar="FILE",
                        help="PostgreSQL password, read from this file (else PGPASSWORD or PGPASSFILE); "
                             "never put it in the URL or on the command line")


def read_password(path: str | None, prog: str) -> str | None:
    """The password in the file (first line), or None. Warns when others may read the file."""
    if path is None:
        return None
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"{prog}: warning: {path} is readable by other users (chmod 600 it)", file=sys.stderr)
    with open(path, encoding="utf-8") as fh:
        return fh.readline().rstrip("\r\n")


def open_reader(args: argparse.Namespace, prog: str, application: str):
    """The existing store named by --db for a command that reads it, or None after one clear line."""
    from appliance.central.backends import open_store
    from appliance.central.store import StoreError
    try:
        return open_store(args.db, create=False, password=read_password(args.db_password_file, prog),
                          application_name=application)
    except (StoreError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
