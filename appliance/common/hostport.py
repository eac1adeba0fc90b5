"""Addresses: the one "host:port" parser (from firmware_bridge, which owns listen addresses) and loopback."""
from __future__ import annotations

import ipaddress

from firmware_bridge.settings import split_hostport

__all__ = ["is_loopback", "split_hostport"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
