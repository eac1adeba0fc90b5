"""Shared fixtures for the central's tests: one dev PKI, a throwaway PostgreSQL, one central per backend and module."""
from __future__ import annotations

import pytest

from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.pg_cluster import PASSWORD, PgCluster

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg():
    """One PostgreSQL cluster for the whole run (a fresh database per user). If it cannot start, the
    tests that need it fail with its log: nothing is skipped."""
    with PgCluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "site-a", extra_sites=("site-b",))


def central_for(backend: str, pg_cluster, directory, pki, extra_args: tuple[str, ...] = ()) -> CentralProcess:
    """A (not yet started) central on a fresh SQLite file or a fresh PostgreSQL database; either way its
    recordings go to directory/recordings."""
    if backend == "sqlite":
        return CentralProcess(directory / "central.db", pki=pki, extra_args=extra_args)
    db = pg_cluster.new_database()
    return CentralProcess(directory / f"{db}.db", pki=pki, db=pg_cluster.url(db), env={"PGPASSWORD": PASSWORD},
                          extra_args=("--recordings-dir", str(directory / "recordings"), *extra_args))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def central(backend, request, pki, tmp_path_factory):
    pg_cluster = request.getfixturevalue("pg") if backend == "postgres" else None
    with central_for(backend, pg_cluster, tmp_path_factory.mktemp(f"central-{backend}"), pki) as proc:
        yield proc


@pytest.fixture
def key_prefix(request) -> str:
    """Keys unique to the running test, so tests sharing one central do not see each other's records."""
    return request.node.name + ":"
