"""`[[wallboard]]` settings: one entry per sign; entries sharing a port share one driver.

    [[wallboard]]
    name = "floor-1"
    port = "/dev/appliance/wallboard-1"     # any pyserial URL
    address = "01"                           # "00" = broadcast (the only sign on its port)
    queues = ["sales", "support"]
    template = "{queue} {waiting} waiting, longest {longest_wait}"

Several signs on one RS-485 line are several entries with the same `port` and different
addresses. `group_by_port(entries)` checks that they agree on everything that belongs to the port
(line settings, ack, rs485, reconnect policy) and returns one group per port: the daemon makes one
`WallboardDriver.from_settings(group)` per group and one presenter per entry (per address).
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Iterable

TEMPLATE_FIELDS = ("queue", "waiting", "longest_wait", "agents_available", "agents_on_call",
                   "agents_paused", "offered", "answered", "abandoned", "service_level",
                   "abandon_rate", "asa", "aht")
DEFAULT_TEMPLATE = ("{queue} {waiting} waiting, longest {longest_wait}, {agents_available} free, "
                    "SL {service_level}%")
MAX_FILES = 26              # TEXT + STRING files a sign is asked to hold (26-file memory signs)
MAX_TEXT = 1000             # bytes of one queue's layout (literal text and STRING calls)
MODES = ("hold", "rotate", "scroll", "roll_left", "wipe_left", "compressed_rotate", "automode")
PORT_KEYS = ("baudrate", "bytesize", "parity", "stopbits", "ack", "ack_timeout_s", "retries",
             "rs485", "reconnect_delay", "reconnect_delay_max")
_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_CONSOLES = ("/dev/ttyS0", "/dev/console", "/dev/tty0")


def template_fields(template: str) -> tuple[str, ...]:
    """The distinct field names of a template, in order of first use; ValueError if malformed."""
    names: list[str] = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"{{{name}}}: no format specs or conversions (the sign formats values)")
        if name not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown field {{{name}}}; known: {', '.join(TEMPLATE_FIELDS)}")
        if name not in names:
            names.append(name)
    return tuple(names)


def files_needed(queues: int, template: str) -> int:
    """One TEXT file per queue plus one STRING file per live field per queue ({queue} is literal)."""
    live = [name for name in template_fields(template) if name != "queue"]
    return queues * (1 + len(live))


@dataclass(frozen=True)
class WallboardSettings:
    """One sign. Times in seconds; see the module docstring for how entries share a port."""
    name: str
    port: str
    baudrate: int = 9600
    bytesize: int = 7
    parity: str = "E"
    stopbits: float = 1
    type: str = "Z"                      # type code: "Z" all signs
    address: str = "00"
    queues: tuple[str, ...] = ()
    template: str = DEFAULT_TEMPLATE
    mode: str = "hold"                   # how each queue's page comes on ("rotate" for long text)
    stale_after_s: float = 30.0          # every source of the queues down this long -> warning
    ack: bool = False                    # Alpha 2.0 ACK/NAK: wait for each packet's answer
    ack_timeout_s: float = 1.0           # after the packet's own wire time
    retries: int = 2                     # resends after a NAK or a missing ACK
    min_interval_s: float = 1.0          # at most one burst of writes per sign this often
    rs485: bool = False                  # kernel RS-485 direction control (skipped on ptys)
    reconnect_delay: float = 1.0
    reconnect_delay_max: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "queues", tuple(self.queues))
        self.validate()

    @property
    def target(self) -> str:
        return f"{self.port} address {self.address}"

    def validate(self) -> None:
        def bad(key: str, text: str) -> ValueError:
            return ValueError(f"{key}: {text}")

        if not isinstance(self.name, str) or not self.name.strip():
            raise bad("name", "required")
        if not isinstance(self.port, str) or not self.port:
            raise bad("port", "required (a device path or pyserial URL)")
        if self.port in _CONSOLES:
            raise bad("port", f"{self.port} is the console, never a wallboard")
        if self.baudrate not in _BAUDRATES:
            raise bad("baudrate", f"one of {_BAUDRATES}")
        if self.bytesize not in (7, 8):
            raise bad("bytesize", "7 or 8")
        if self.parity not in ("N", "E", "O"):
            raise bad("parity", '"N", "E" or "O"')
        if self.stopbits not in (1, 1.5, 2):
            raise bad("stopbits", "1, 1.5 or 2")
        if not isinstance(self.type, str) or len(self.type) != 1 or not "\x20" <= self.type <= "\x7e" \
                or self.type == "0":
            raise bad("type", 'one printable character such as "Z" ("0" is what signs answer with)')
        if not isinstance(self.address, str) or len(self.address) != 2 \
                or any(c not in string.hexdigits for c in self.address):
            raise bad("address", 'two hex digits, "00" = broadcast')
        self._validate_queues(bad)
        if self.mode not in MODES:
            raise bad("mode", f"one of {', '.join(MODES)}")
        for key in ("stale_after_s", "ack_timeout_s", "reconnect_delay"):
            if not getattr(self, key) > 0:
                raise bad(key, "must be > 0")
        if not self.min_interval_s >= 0:
            raise bad("min_interval_s", "must be >= 0")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 10:
            raise bad("retries", "0..10")
        if self.reconnect_delay_max < self.reconnect_delay:
            raise bad("reconnect_delay_max", "must be >= reconnect_delay")

    def _validate_queues(self, bad) -> None:
        if not self.queues:
            raise bad("queues", "at least one queue to show")
        if any(not isinstance(q, str) or not q for q in self.queues):
            raise bad("queues", "queue names are non-empty strings")
        if len(set(self.queues)) != len(self.queues):
            raise bad("queues", "a queue is listed twice")
        if not isinstance(self.template, str) or not self.template.strip():
            raise bad("template", "required")
        try:
            needed = files_needed(len(self.queues), self.template)
        except ValueError as exc:
            raise bad("template", str(exc)) from None
        if needed > MAX_FILES:
            raise bad("queues", f"{len(self.queues)} queue(s) with this template need {needed} sign "
                                f"files; a sign holds {MAX_FILES}: use fewer queues or fields, or "
                                f"a second sign")
        longest = max(len(self.template.replace("{queue}", q)) for q in self.queues)
        if longest > MAX_TEXT:
            raise bad("template", f"longer than {MAX_TEXT} characters once filled in")


def group_by_port(entries: Iterable[WallboardSettings]) -> list[tuple[WallboardSettings, ...]]:
    """One group per port, in config order; ValueError("key: message") when entries conflict."""
    groups: dict[str, list[WallboardSettings]] = {}
    names: set[str] = set()
    for entry in entries:
        if entry.name in names:
            raise ValueError(f"name: two wallboards are called {entry.name!r}")
        names.add(entry.name)
        groups.setdefault(entry.port, []).append(entry)
    for port, group in groups.items():
        first = group[0]
        addresses = [e.address.upper() for e in group]
        if len(group) > 1 and "00" in addresses:
            raise ValueError(f"address: {port} carries several signs, so none may use broadcast 00")
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"address: two signs on {port} share an address")
        for other in group[1:]:
            for key in PORT_KEYS:
                if getattr(other, key) != getattr(first, key):
                    raise ValueError(f"{key}: {other.name!r} and {first.name!r} share {port} and "
                                     f"must agree on it")
    return [tuple(group) for group in groups.values()]
