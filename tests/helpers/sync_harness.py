"""Shared by the sync tests: records in a real Store, and a SyncClient running on its own loop thread."""
from __future__ import annotations

from contextlib import closing
import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Callable

from appliance.calls.record import CallRecord
from appliance.store import Store
from appliance.sync import SyncClient, CentralConfig
from appliance.sync.convert import record_bytes
from tests.helpers.central_proc import CentralProcess, TestPki

SITE = "site-a"


def call_record(i: int, site_id: str = SITE, **fields) -> CallRecord:
    values = dict(key=f"{site_id}-{i:08d}", site_id=site_id, source="pbx1", source_kind="avaya-ipo",
                  direction="inbound", caller="+15551234567", callee="201", dialled_number="5550100",
                  queue="sales", agent="201", started_at="2026-11-22T12:00:00Z",
                  answered_at="2026-11-22T12:00:05Z", ended_at="2026-11-22T12:03:00Z", ring_s=5,
                  talk_s=175, hold_s=0, disposition="answered", pbx_call_id=str(1000000 + i), leg=1)
    values.update(fields)
    return CallRecord(**values)


def fill_store(data_dir: Path, count: int, start: int = 0, *, serialize=record_bytes) -> list[str]:
    """Add `count` records to the store in data_dir, each with its wire bytes as the daemon stores
    them (serialize=None: without, as rows stored before schema 6); returns their keys."""
    records = [call_record(i) for i in range(start, start + count)]
    with Store(data_dir, site_id=SITE) as store:
        store.add(records, serialize=serialize)
    return [r.key for r in records]


def store_stats(data_dir: Path) -> dict:
    """The store's own view: 'pending' (outbox) and 'dead_letter' among others."""
    with Store(data_dir, site_id=SITE, check=False) as store:
        return store.stats()


def dead_letters(data_dir: Path) -> dict[str, str]:
    """key -> reason of every record in the dead-letter table (not replayed)."""
    with Store(data_dir, site_id=SITE, check=False) as store:
        return {row["key"]: row["reason"] for row in store.export("dead_letter")}


def central_keys(central: CentralProcess) -> list[str]:
    """Every key the central stored for SITE, with repeats if there were any (there must not be)."""
    if not central.db_path.exists():
        return []
    with closing(sqlite3.connect(f"file:{central.db_path}?mode=ro", uri=True)) as conn:
        return [k for (k,) in conn.execute("SELECT key FROM records WHERE site_id = ?", (SITE,))]


def mtls_config(pki: TestPki, *endpoints: str, **overrides) -> CentralConfig:
    """A config tuned for tests: fast probes and a short failback (everything else as shipped)."""
    values = dict(endpoints=tuple(endpoints), ca_file=str(pki.ca), cert_file=str(pki.sites[SITE].cert),
                  key_file=str(pki.sites[SITE].key), failback_after=1.0, probe_interval_s=0.2,
                  poll_interval_s=0.2)
    values.update(overrides)
    return CentralConfig(**values)


class ClientThread:
    """Runs SyncClient.run() on an event loop in a named thread, so the test thread can block freely
    (start and kill centrals) without stalling the client. Use as a context manager."""

    def __init__(self, config: CentralConfig, data_dir: Path, site_id: str = SITE, *,
                 store_factory: Callable[[], Store] | None = None, store_writes: Callable | None = None):
        factory = store_factory or (lambda: Store(data_dir, site_id=site_id, check=False))
        self.client = SyncClient(config, factory, site_id, store_writes=store_writes)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="test-sync-client", daemon=True)
        self.error: BaseException | None = None

    def clients(self) -> list:
        """What runs on the loop (a subclass may add clients of its own)."""
        return [self.client]

    async def _main(self) -> None:
        await asyncio.gather(*(client.run() for client in self.clients()))

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:     # noqa: BLE001 - reported to the test by __exit__
            self.error = exc
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def status(self) -> dict:
        return self.client.status()

    def wake(self) -> None:
        self.client.wake()

    def __enter__(self) -> "ClientThread":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for client in self.clients():
            client.stop()
        self._thread.join(15)
        assert not self._thread.is_alive(), "sync client did not stop within 15 s"
        if self.error is not None and exc[0] is None:
            raise self.error
