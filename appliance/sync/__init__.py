"""Delivery to the central: CDRs in order with per-record acks over gRPC/mTLS, failover and failback; recording uploads."""
from __future__ import annotations

import importlib

# Loaded on first use, so the modules of this package can import each other's parts without
# running the client first.
_EXPORTS = {"SyncClient": "appliance.sync.client", "CentralConfig": "appliance.sync.config",
            "UploadClient": "appliance.sync.uploads"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
