"""The durable store: SQLite CDRs with their outbox, the schema's migrations, and the batching writer thread."""
from appliance.store.errors import NoDatabase, StoreError, StoreUnavailable
from appliance.store.files import DB_NAME
from appliance.store.records import AddResult, RejectedRaw
from appliance.store.store import Store
from appliance.store.writer import StoreWriter

__all__ = ["DB_NAME", "AddResult", "NoDatabase", "RejectedRaw", "Store", "StoreError", "StoreUnavailable",
           "StoreWriter"]
