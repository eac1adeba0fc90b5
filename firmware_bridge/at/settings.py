"""The [[line]] table: one telephone line (a 27.007 GSM/LTE module or a V.253 voice modem) on a serial port."""
from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.settings import check_reconnect


@dataclass(frozen=True)
class LineSettings:
    """One `[[line]]` entry, key for key; `kind` names the device kind. ValueError("key: ...") on misuse."""
    name: str
    port: str = ""                  # device path or pyserial URL
    kind: str = "gsm"               # "gsm" | "voice-modem"
    baudrate: int = 115200
    queue: str = ""                 # the queue this line's calls count toward
    sim_pin: str = ""               # secret: sent when the SIM asks (AT+CPIN), never logged
    ring_timeout: float = 8.0       # no RING for this long while ringing = the caller gave up
    audio: str = ""                 # ALSA PCM of the module's voice (its USB audio card), "" = none
    audio_rate: int = 8000          # 8000 or 16000, mono S16LE
    audio_paced: bool = False       # a file-backed PCM (emulation): pace it to the wall clock
    reconnect_delay: float = 1.0
    reconnect_delay_max: float = 30.0

    SECRETS = ("sim_pin",)

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("port: missing")
        if self.sim_pin and not (self.sim_pin.isdigit() and 4 <= len(self.sim_pin) <= 8):
            raise ValueError("sim_pin: expected 4 to 8 digits")
        if self.ring_timeout <= 0:
            raise ValueError("ring_timeout: must be > 0")
        check_reconnect(self.reconnect_delay, self.reconnect_delay_max)
        if self.audio_rate not in (8000, 16000):
            raise ValueError("audio_rate: expected 8000 or 16000")

    @property
    def target(self) -> str:
        return self.port
