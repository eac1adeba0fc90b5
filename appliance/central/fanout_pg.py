"""Live events across central replicas: LISTEN to what the others commit (PostgreSQL NOTIFY), no broker."""
from __future__ import annotations

import asyncio
import base64
import logging
import threading

import psycopg

from appliance.central.live_hub import LiveHub
from appliance.central.store import StoreUnavailable
from appliance.central.store_postgres import LIVE_CHANNEL, connect
from appliance.v1 import live_pb2

log = logging.getLogger("appliance.central")


class PgFollower:
    """A thread holding one LISTEN connection. Each notification is "<origin> <id> [<base64 event>]" (the
    event itself when it fits NOTIFY's payload limit, else read by id); events of other replicas are handed
    to the hub on the event loop, in commit order.

    On (re)connect it first loads every site's stored snapshot and hands that over before any notification,
    so the hub never applies an older snapshot over newer events. After a reconnect the snapshots are also
    announced to subscribers: they may have missed events while the connection was down.
    """

    def __init__(self, url: str, password: str | None, replica_id: str, hub: LiveHub,
                 loop: asyncio.AbstractEventLoop, *, retry_s: float = 1.0):
        self._url = url
        self._password = password
        self._replica_id = replica_id
        self._hub = hub
        self._loop = loop
        self._retry_s = retry_s
        self._stop = threading.Event()
        self.listening = threading.Event()
        self.received = 0
        self.reconnects = 0
        self._thread = threading.Thread(target=self._run, name="central-live-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                with connect(self._url, password=self._password, application_name="appliance-central-follow") as conn:
                    conn.execute(f"LISTEN {LIVE_CHANNEL}")
                    snapshots = [row[0] for row in conn.execute("SELECT payload FROM site_snapshots")]
                    self._loop.call_soon_threadsafe(self._hub.load, snapshots, not first)
                    if not first:
                        log.info("live fan-out: listening again; %d site snapshots re-announced", len(snapshots))
                    first = False
                    self.listening.set()
                    self._follow(conn)
            except (psycopg.Error, StoreUnavailable) as exc:
                was_listening = self.listening.is_set()
                self.listening.clear()
                if self._stop.is_set():
                    return
                self.reconnects += 1
                # Once per outage, not once per retry.
                log.log(logging.WARNING if was_listening else logging.DEBUG,
                        "live fan-out: lost the LISTEN connection (%s); retrying every %g s", exc, self._retry_s)
                self._stop.wait(self._retry_s)

    def _follow(self, conn: psycopg.Connection) -> None:
        fetch: psycopg.Connection | None = None     # a second connection: this one is busy inside notifies()
        try:
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    if self._stop.is_set():
                        return                  # (a notification cut off here no longer matters)
                    origin, _, rest = note.payload.partition(" ")
                    if origin == self._replica_id:
                        continue                # this replica fanned it out when it arrived
                    event_id, _, inline = rest.partition(" ")
                    if inline:
                        self._hand_over(base64.b64decode(inline))
                        continue
                    if fetch is None:
                        fetch = connect(self._url, password=self._password,
                                        application_name="appliance-central-follow")
                    row = fetch.execute("SELECT payload FROM live_events WHERE id = %s", (int(event_id),)).fetchone()
                    if row is not None:
                        self._hand_over(row[0])
        finally:
            if fetch is not None:
                fetch.close()

    def _hand_over(self, payload: bytes) -> None:
        self.received += 1
        self._loop.call_soon_threadsafe(self._deliver, payload)

    def _deliver(self, payload: bytes) -> None:
        self._hub.publish(live_pb2.LiveEvent.FromString(payload), payload)
