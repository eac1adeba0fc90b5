"""Open the central's store on the backend its location names: a SQLite file or a postgresql:// URL.

The one place that knows both backends; `appliance.central.store` is only their common interface."""
from __future__ import annotations

from appliance.central.store import CentralStore, is_postgres_url


def open_store(db: str, *, create: bool = True, password: str | None = None,
               application_name: str = "appliance-central", pg_insert: str = "values") -> CentralStore:
    """A SQLite file path or a postgresql:// URL. create=False refuses a database that does not exist yet
    (and never migrates it); password, if given, overrides PGPASSWORD/PGPASSFILE; pg_insert picks how
    PostgreSQL inserts record batches ("values": one INSERT from arrays, "copy": COPY + INSERT-SELECT)."""
    if is_postgres_url(db):
        from appliance.central.store_postgres import PostgresStore
        return PostgresStore(db, create=create, password=password, application_name=application_name,
                             insert_mode=pg_insert)
    from appliance.central.store_sqlite import SqliteStore
    return SqliteStore(db, create=create)
