"""Checks every device kind's settings share; each raises ValueError("key: what was expected")."""
from __future__ import annotations


def check_choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")


def check_reconnect(delay: float, delay_max: float) -> None:
    if delay <= 0 or delay_max < delay:
        raise ValueError("reconnect_delay_max: must be >= reconnect_delay > 0")


def check_zone(name: str, key: str) -> None:
    """An IANA time zone name ("" = use the site's)."""
    if not name:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{key}: unknown time zone {name!r} (expected an IANA name such as "
                         f"'Europe/London')") from None


def split_hostport(value: str, *, port_zero: bool = False) -> tuple[str, int]:
    """"host:port" or "[v6]:port" -> (host, port); ValueError naming the value otherwise.

    The one parser of addresses in the project. `port_zero` accepts port 0 for listen addresses
    (bind to a free port: tests and the demo).
    """
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    lowest = 0 if port_zero else 1
    if not sep or not host or not port.isdigit() or not lowest <= int(port) < 65536:
        raise ValueError(f"{value!r}: expected HOST:PORT")
    return host, int(port)


def check_hostport(value: str, key: str) -> tuple[str, int]:
    """A listen address for a settings key (port 0 = any free port)."""
    try:
        return split_hostport(value, port_zero=True)
    except ValueError:
        raise ValueError(f"{key}: expected HOST:PORT, got {value!r}") from None
