"""The `[[headset]]` table of the config file: one agent's USB headset."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadsetSettings:
    """One headset. `hidraw` is a hidraw node (a /dev/appliance/headset-* name) or, for emulation,
    a Unix SOCK_SEQPACKET socket path; a socket needs `descriptor_file` (the raw report descriptor,
    as in /sys/class/hidraw/hidrawN/device/report_descriptor).
    """
    name: str
    hidraw: str
    agent: str
    descriptor_file: str = ""
    queues: tuple[str, ...] = ()
    audio: str = ""                 # ALSA PCM of the same headset, "" = no audio
    audio_rate: int = 8000          # 8000 or 16000, mono S16LE (converted to the line's rate)
    audio_paced: bool = False       # a file-backed PCM (emulation): pace it to the wall clock
    pci_pause_button: str = ""      # "flash" | "redial" | "programmable": pauses/resumes recording
    debounce_s: float = 0.3
    reconnect_delay: float = 1.0
    reconnect_delay_max: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "queues", tuple(self.queues))
        self.validate()

    @property
    def target(self) -> str:
        return self.hidraw

    def validate(self) -> "HeadsetSettings":
        """Raise ValueError("key: message") for the first bad key; return self when all are fine."""
        for key in ("name", "hidraw", "agent"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key}: must be a non-empty string")
        if self.audio_rate not in (8000, 16000):
            raise ValueError("audio_rate: expected 8000 or 16000")
        if self.pci_pause_button not in ("", "flash", "redial", "programmable"):
            raise ValueError("pci_pause_button: expected \"\", \"flash\", \"redial\" or \"programmable\"")
        for key in ("descriptor_file", "audio"):
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key}: must be a string")
        if not isinstance(self.queues, (tuple, list)) or not all(isinstance(q, str) and q.strip()
                                                                 for q in self.queues):
            raise ValueError("queues: must be a list of non-empty queue names")
        if len(set(self.queues)) != len(self.queues):
            raise ValueError("queues: lists a queue twice")
        numbers = {"debounce_s": (0.0, 5.0), "reconnect_delay": (0.01, 3600.0),
                   "reconnect_delay_max": (0.01, 3600.0)}
        for key, (low, high) in numbers.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"{key}: must be a number from {low:g} to {high:g}, not {value!r}")
        if self.reconnect_delay_max < self.reconnect_delay:
            raise ValueError("reconnect_delay_max: must not be below reconnect_delay")
        return self
