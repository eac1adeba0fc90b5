"""A queue's statistics and alert settings: the `[[queue]]` table of the configuration."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """One `[[queue]]` table. Seconds are whole seconds (records carry whole seconds).

    Thresholds of 0 switch that alert off. `alert_hysteresis_pct` is how far back past the
    threshold a value must go before a raised alert clears, in % of the threshold (for the
    service level: in % of its shortfall 100 - threshold; docs/queue-stats.md "Alerts").
    `wrap_up_s` is the wrap-up the agent layer gives after a call; the figures use the
    wrap-up each record carries, never this setting.
    """
    name: str
    service_level_s: int = 20
    short_abandon_s: int = 5
    wrap_up_s: int = 10
    window_s: int = 3600
    alert_longest_wait_s: int = 0
    alert_service_level_pct: float = 0.0
    alert_waiting: int = 0
    alert_hysteresis_pct: float = 10.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "QueueSettings":
        """Raise ValueError("key: message") for the first unusable value; return self when all are fine."""
        if not isinstance(self.name, str) or not self.name.strip() or self.name != self.name.strip():
            raise ValueError(f"name: expected a non-empty name without surrounding spaces, got {self.name!r}")
        _int_in("service_level_s", self.service_level_s, 1, 3600)
        _int_in("short_abandon_s", self.short_abandon_s, 0, 3600)
        _int_in("wrap_up_s", self.wrap_up_s, 0, 3600)
        _int_in("window_s", self.window_s, 60, _DAY_S)
        _int_in("alert_longest_wait_s", self.alert_longest_wait_s, 0, _DAY_S)
        _number_in("alert_service_level_pct", self.alert_service_level_pct, 0.0, 100.0)
        _int_in("alert_waiting", self.alert_waiting, 0, 100_000)
        _number_in("alert_hysteresis_pct", self.alert_hysteresis_pct, 0.0, 99.0)
        return self


def _int_in(key: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: expected a whole number of {'seconds' if key.endswith('_s') else 'calls'}, "
                         f"got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{key}: expected {low}..{high}, got {value}")


def _number_in(key: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{key}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{key}: expected {low:g}..{high:g}, got {value!r}")


def by_name(queues: Iterable[QueueSettings] | Mapping[str, QueueSettings]) -> dict[str, QueueSettings]:
    """Settings keyed by queue name, each validated; a name given twice raises ValueError."""
    items = queues.values() if isinstance(queues, Mapping) else queues
    out: dict[str, QueueSettings] = {}
    for q in items:
        q.validate()
        if q.name in out:
            raise ValueError(f"name: duplicate queue {q.name!r}")
        out[q.name] = q
    return out


def settings_for(settings: Mapping[str, QueueSettings], queue: str) -> QueueSettings:
    """The queue's settings, or the defaults for a queue the configuration does not name."""
    found = settings.get(queue)
    return found if found is not None else QueueSettings(name=queue)
