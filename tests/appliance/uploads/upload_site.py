"""Shared by the upload tests: recorded calls with real age segments, and a site's sync + uploads on one loop."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

from appliance.audio.age_keys import Identity
from appliance.audio.segments import SegmentWriter
from appliance.calls.record import CallRecord, Recording
from appliance.central.recording_files import segment_path
from appliance.store import Store
from appliance.sync import CentralConfig
from appliance.sync.uploads import UploadClient
from tests.helpers.central_proc import CentralProcess
from tests.helpers.sync_harness import SITE, ClientThread, call_record

RATE = 8000
FRAME_BYTES = 4          # two channels of S16


def recipient() -> str:
    return str(Identity.generate().recipient)


def recorded_call(i: int, recordings: Path, age_recipient: str, seconds: float = 1.0,
                  segment_s: float = 300.0) -> CallRecord:
    """A call whose audio (incompressible noise) is written by the real SegmentWriter into `recordings`."""
    key = f"{SITE}-rec-{i:06d}"
    writer = SegmentWriter(recordings, key, [age_recipient], RATE, segment_s=segment_s, fsync=False)
    frames = int(seconds * RATE)
    writer.write(random.Random(i).randbytes(frames * FRAME_BYTES))
    segments = tuple(writer.close())
    return call_record(i, key=key, recording=Recording(status="recorded", sample_rate=RATE, samples=frames,
                                                       segments=segments))


def store_records(data_dir: Path, records: list[CallRecord], **store_kw) -> list[int]:
    with Store(data_dir, site_id=SITE, **store_kw) as store:
        return store.add(records).inserted


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def central_copy(central: CentralProcess, key: str, name: str) -> Path:
    """Where the central keeps a segment (its recordings directory beside its SQLite file)."""
    return segment_path(central.db_path.parent / "recordings", SITE, key, name)[0]


class Site(ClientThread):
    """A site's SyncClient (unless sync=False) and UploadClient on one event loop in a thread of its own,
    so the test thread can block freely (kill and restart the central)."""

    def __init__(self, config: CentralConfig, data_dir: Path, *, sync: bool = True, writer=None, **upload_kw):
        """writer: a StoreWriter doing every write, as the daemon wires it (the clients' own stores
        are then read-only, so a write that does not go through it fails)."""
        def factory() -> Store:
            return Store(data_dir, site_id=SITE, check=False, read_only=writer is not None)
        writes = None if writer is None else writer.call
        super().__init__(config, data_dir, store_factory=factory, store_writes=writes)
        self.sync = self.client if sync else None
        self.uploads = UploadClient(config, factory, SITE, data_dir / "recordings", store_writes=writes, **upload_kw)

    def clients(self) -> list:
        return [c for c in (self.sync, self.uploads) if c is not None]

    def status(self) -> dict:
        return self.uploads.status()
