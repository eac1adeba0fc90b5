"""The [[pbx]] table: one PBX call-record feed (Avaya IP Office over TCP, or Panasonic on RS-232C)."""
from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.settings import check_choice, check_hostport, check_reconnect, check_zone


@dataclass(frozen=True)
class PbxSettings:
    """One `[[pbx]]` entry, key for key; `format` names the device kind. ValueError("key: ...") on misuse."""
    name: str
    format: str                     # "avaya-ipo" | "panasonic"
    listen: str = ""                # TCP feeds (Avaya): "HOST:PORT" the appliance listens on
    port: str = ""                  # serial feeds: device path or pyserial URL
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    queue: str = ""                 # the queue these calls count toward ("" = none)
    timezone: str = ""              # overrides [site].timezone for this PBX
    date_order: str = "MDY"         # panasonic: MDY | DMY | YMD (follows the PBX's locale)
    clock: str = "auto"             # panasonic: auto | 12h | 24h
    cost_column: str = "auto"       # panasonic: auto | yes | no
    reconnect_delay: float = 1.0
    reconnect_delay_max: float = 30.0

    def __post_init__(self) -> None:
        check_zone(self.timezone, "timezone")
        check_reconnect(self.reconnect_delay, self.reconnect_delay_max)
        if self.format == "avaya-ipo":
            if not self.listen:
                raise ValueError("listen: missing (Avaya IP Office sends SMDR over TCP: set the HOST:PORT "
                                 "the appliance listens on, e.g. '0.0.0.0:1150')")
            check_hostport(self.listen, "listen")
        else:
            if not self.port:
                raise ValueError("port: missing (the serial port the PBX prints SMDR to)")
            check_choice(self.date_order, ("MDY", "DMY", "YMD"), "date_order")
            check_choice(self.clock, ("auto", "12h", "24h"), "clock")
            check_choice(self.cost_column, ("auto", "yes", "no"), "cost_column")
        check_choice(self.parity, ("N", "E", "O"), "parity")
        check_choice(str(self.bytesize), ("7", "8"), "bytesize")
        check_choice(str(self.stopbits), ("1", "2"), "stopbits")

    def leg_reader(self):
        """The pure function that turns this feed's records into PbxLeg events (with its date order)."""
        from .legs import leg_reader
        return leg_reader(self.panasonic_options())

    def panasonic_options(self):
        from .panasonic import PanasonicOptions
        cost = {"auto": "auto", "yes": True, "no": False}[self.cost_column]
        return PanasonicOptions(date_order=self.date_order, clock=self.clock, cost_column=cost)

    @property
    def target(self) -> str:
        """Where the feed arrives, for the technician: the listen address or the serial port."""
        return self.listen or self.port
