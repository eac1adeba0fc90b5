"""Figures as a sign shows them: times m:ss, percentages rounded, counts whole, `--` when unknown."""
from __future__ import annotations

import math
from typing import Any

TIME_FIELDS = frozenset({"longest_wait", "asa", "aht"})
PERCENT_FIELDS = frozenset({"service_level", "abandon_rate"})
MISSING = "--"


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def mmss(seconds: float) -> str:
    """125 -> "2:05"; minutes are not wrapped into hours (a wait of 75 min is "75:00")."""
    total = max(0, _round_half_up(seconds))
    return f"{total // 60}:{total % 60:02d}"


def format_value(field: str, value: Any) -> str:
    """One template field's text. None, NaN or a non-number means "not known yet": `--`."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or math.isnan(value) or math.isinf(value):
        return MISSING
    if field in TIME_FIELDS:
        return mmss(value)
    return str(_round_half_up(value))
