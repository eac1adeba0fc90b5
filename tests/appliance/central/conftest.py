"""Shared fixtures for the central's tests: one dev PKI and one mTLS central process per module."""
from __future__ import annotations

import pytest

from tests.helpers.central_proc import CentralProcess, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "site-a", extra_sites=("site-b",))


@pytest.fixture(scope="module")
def central(pki, tmp_path_factory):
    with CentralProcess(tmp_path_factory.mktemp("central") / "central.db", pki=pki) as proc:
        yield proc


@pytest.fixture
def key_prefix(request) -> str:
    """Keys unique to the running test, so tests sharing one central do not see each other's records."""
    return request.node.name + ":"
