"""Delivery to the central: CDRs in order with per-record acks over gRPC/mTLS, failover and failback."""
from appliance.sync.client import SyncClient
from appliance.sync.config import SyncConfig

__all__ = ["SyncClient", "SyncConfig"]
