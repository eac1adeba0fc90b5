"""A queue's alert colour from its figures: green, amber (approaching a threshold) or red (past it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

LEVELS = ("green", "amber", "red")


@dataclass(frozen=True)
class Thresholds:
    """Red when the longest wait reaches `alert_longest_wait_s` or the service level falls to
    `alert_service_level_pct`; amber from `amber_fraction` of the wait threshold, or within
    `amber_band_pct` points above the service-level threshold. A figure that is None (not known
    yet) does not raise the level."""
    alert_longest_wait_s: float = 120.0
    alert_service_level_pct: float = 80.0
    amber_fraction: float = 0.75
    amber_band_pct: float = 5.0

    def __post_init__(self) -> None:
        if self.alert_longest_wait_s <= 0 or not 0 < self.amber_fraction <= 1:
            raise ValueError("alert_longest_wait_s > 0 and 0 < amber_fraction <= 1")
        if not 0 <= self.alert_service_level_pct <= 100 or self.amber_band_pct < 0:
            raise ValueError("alert_service_level_pct in 0..100 and amber_band_pct >= 0")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def level(figures: Mapping[str, Any], thresholds: Thresholds) -> str:
    """The worse of the longest-wait level and the service-level level."""
    worst = 0
    wait = _number(figures.get("longest_wait"))
    if wait is not None:
        if wait >= thresholds.alert_longest_wait_s:
            worst = 2
        elif wait >= thresholds.alert_longest_wait_s * thresholds.amber_fraction:
            worst = 1
    sl = _number(figures.get("service_level"))
    if sl is not None:
        if sl <= thresholds.alert_service_level_pct:
            worst = 2
        elif sl <= thresholds.alert_service_level_pct + thresholds.amber_band_pct:
            worst = max(worst, 1)
    return LEVELS[worst]
