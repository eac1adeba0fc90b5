"""The durable store: SQLite CDRs with their outbox, the schema's migrations, and the batching writer thread."""
from appliance.store.store import DB_NAME, AddResult, RejectedRaw, Store, StoreError
from appliance.store.writer import StoreWriter

__all__ = ["DB_NAME", "AddResult", "RejectedRaw", "Store", "StoreError", "StoreWriter"]
