"""The [recording] table: whether and how calls are recorded, encrypted, kept and uploaded."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordingConfig:
    """Recordings are encrypted at capture to the central's age recipient(s) (write-only keys:
    the site cannot read what it wrote). Without a valid recipient nothing is recorded (fail closed)."""
    enabled: bool = True
    recipients: tuple[str, ...] = ()         # the central's age recipients ("age1...")
    recipients_file: str = ""                # or a file of them, one per line ("#" comments)
    vad_mode: int = 2                        # webrtcvad aggressiveness 0..3
    segment_s: float = 300.0                 # each closed segment is a complete age file
    quota_mb: int = 20000                    # recordings on this box at most; then new ones are refused
    reserve_mb: int = 500                    # free space kept for call records; recordings never take it
    keep_after_upload_s: float = 0.0         # local copy kept this long after the central has it
    upload_rate_kib_s: int = 4096            # uploads paced to this in all, so they never slow the records
    upload_chunk_kib: int = 256              # bytes per upload message (and per durable offset at the central)
    pci_pause_max_s: float = 300.0           # a PCI pause longer than this raises an alert
    trim_silence_s: float = 0.0              # silences longer than this are cut to it (0 = never cut)

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if not 0 <= self.vad_mode <= 3:
            raise ValueError("vad_mode: expected 0, 1, 2 or 3")
        if self.segment_s < 1:
            raise ValueError("segment_s: must be >= 1")
        if self.quota_mb < 1 or self.reserve_mb < 0:
            raise ValueError("quota_mb / reserve_mb: quota >= 1, reserve >= 0")
        if self.upload_rate_kib_s < 16:
            raise ValueError("upload_rate_kib_s: must be >= 16 (unpaced uploads slow the records' sync)")
        if not 16 <= self.upload_chunk_kib <= 1024:
            raise ValueError("upload_chunk_kib: expected 16 .. 1024 (the central refuses chunks over 1 MiB)")
        for key in ("keep_after_upload_s", "pci_pause_max_s", "trim_silence_s"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must be >= 0")

    def recipient_list(self) -> list[str]:
        """The recipients from the table and the file. OSError when the file cannot be read."""
        found = list(self.recipients)
        if self.recipients_file:
            with open(self.recipients_file, encoding="utf-8") as fh:
                for line in fh:
                    line = line.split("#", 1)[0].strip()
                    if line:
                        found.append(line)
        return found
