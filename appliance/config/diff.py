"""What a SIGHUP reload found changed: the sections and device tables that need a restart."""
from __future__ import annotations

import dataclasses

from appliance.config.schema import Config


def changed_sections(old: Config, new: Config) -> list[str]:
    """Names of the top-level tables (and device tables) that differ; [log] is applied live, so not listed."""
    changed = [f.name for f in dataclasses.fields(new)
               if f.name not in ("log", "source_path", "devices") and getattr(new, f.name) != getattr(old, f.name)]
    tables = {d.table for d in (*new.devices, *old.devices)}
    return changed + sorted(t for t in tables if getattr(new, t) != getattr(old, t))
