"""KPI alerts per queue with hysteresis: a crossing raises once, a clear needs the value well back."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from appliance.stats.settings import QueueSettings

KPIS = ("longest_wait_s", "service_level_pct", "waiting")
RAISED, CLEARED = "raised", "cleared"
_LABELS = {"longest_wait_s": "longest wait", "service_level_pct": "service level", "waiting": "calls waiting"}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert change, as data: the daemon logs, counts, sends and colours the wallboard with it."""
    queue: str
    kpi: str                    # one of KPIS
    level: str                  # "raised" | "cleared"
    value: float | None         # the figure that caused the change; None: no longer measured
    threshold: float
    text: str                   # one line for people

    def to_pb(self):
        from appliance.v1 import live_pb2
        return live_pb2.AlertEvent(
            queue=self.queue, kpi=self.kpi,
            level=live_pb2.ALERT_RAISED if self.level == RAISED else live_pb2.ALERT_CLEARED,
            value=0.0 if self.value is None else float(self.value), threshold=float(self.threshold),
            text=self.text)


def threshold_of(kpi: str, s: QueueSettings) -> float:
    """The configured threshold (0 = the alert is off)."""
    return float({"longest_wait_s": s.alert_longest_wait_s, "service_level_pct": s.alert_service_level_pct,
                  "waiting": s.alert_waiting}[kpi])


def clear_level(kpi: str, s: QueueSettings) -> float:
    """Where a raised alert clears.

    longest_wait_s, waiting (higher is worse): raised at value >= T, cleared at value < T * (1 - h/100).
    service_level_pct (lower is worse): raised at value < T, cleared at value >= T + (100 - T) * h/100
    (hysteresis on the shortfall, so a threshold near 100 % can still clear).
    """
    t, h = threshold_of(kpi, s), s.alert_hysteresis_pct / 100.0
    if kpi == "service_level_pct":
        return t + (100.0 - t) * h
    return t * (1.0 - h)


def _bad(kpi: str, value: float, t: float) -> bool:
    return value < t if kpi == "service_level_pct" else value >= t


def _good(kpi: str, value: float, clear: float) -> bool:
    return value >= clear if kpi == "service_level_pct" else value < clear


def _fmt(kpi: str, value: float) -> str:
    if kpi == "service_level_pct":
        return f"{value:.1f}%"
    if kpi == "longest_wait_s":
        return f"{value:.0f} s"
    return f"{value:g}"


def _text(queue: str, kpi: str, level: str, value: float | None, t: float, clear: float) -> str:
    label = _LABELS[kpi]
    if level == RAISED:
        verb = "below" if kpi == "service_level_pct" else "at or above"
        return f"{queue}: {label} {_fmt(kpi, value)} is {verb} the alert threshold {_fmt(kpi, t)}"
    if value is None:
        return f"{queue}: {label} no longer measured; alert cleared"
    if t == 0:
        return f"{queue}: {label} alert switched off; cleared"
    side = "at least" if kpi == "service_level_pct" else "below"
    return f"{queue}: {label} back to {_fmt(kpi, value)} ({side} {_fmt(kpi, clear)}); alert cleared"


class AlertTracker:
    """Remembers which (queue, kpi) alerts are raised; `update` returns only changes."""

    def __init__(self) -> None:
        self._raised: dict[tuple[str, str], Alert] = {}

    def update(self, queue: str, settings: QueueSettings, values: Mapping[str, float | None]) -> list[Alert]:
        """Compare the queue's current values (keys from KPIS; None = not measured now) with its thresholds."""
        out = []
        for kpi in KPIS:
            if kpi not in values:
                continue
            value, t, clear = values[kpi], threshold_of(kpi, settings), clear_level(kpi, settings)
            raised = (queue, kpi) in self._raised
            if not raised:
                if t > 0 and value is not None and _bad(kpi, value, t):
                    alert = Alert(queue, kpi, RAISED, value, t, _text(queue, kpi, RAISED, value, t, clear))
                    self._raised[(queue, kpi)] = alert
                    out.append(alert)
            elif t == 0 or value is None or _good(kpi, value, clear):
                old = self._raised.pop((queue, kpi))
                shown = old.threshold if t == 0 else t
                out.append(Alert(queue, kpi, CLEARED, value, shown, _text(queue, kpi, CLEARED, value, t, clear)))
        return out

    def clear_queue(self, queue: str) -> list[Alert]:
        """The queue is gone (removed from the configuration): clear whatever it had raised."""
        out = []
        for key in [k for k in sorted(self._raised) if k[0] == queue]:
            old = self._raised.pop(key)
            out.append(Alert(queue, old.kpi, CLEARED, None, old.threshold,
                             f"{queue}: queue no longer configured; {_LABELS[old.kpi]} alert cleared"))
        return out

    def active(self) -> list[Alert]:
        """Alerts raised and not cleared, in (queue, kpi) order (a SiteSnapshot's `alerts`)."""
        return [self._raised[k] for k in sorted(self._raised)]
