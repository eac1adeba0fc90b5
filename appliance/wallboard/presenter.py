"""Decides what to write to one sign, and when: layouts once, then only the STRING values that changed.

    presenter = SignPresenter(settings, clock=loop.time)     # settings: one WallboardSettings
    presenter.on_figures({"sales": {"waiting": 3, "longest_wait": 65, ...}})   # levels optional
    presenter.on_sources({"pbx1": SourceState(up=False, since=t)})             # same clock
    writes = presenter.take()        # list[SignWrite] to send now ([] while rate-limited)
    presenter.next_due()             # when take() will next have something (None: nothing waits)
    presenter.on_replug()            # the sign came back: everything is written again

The first take(), and the first after on_replug(), writes the whole sign: the memory
configuration (E$), every queue's TEXT layout in its colour, every STRING value, and the priority
file (set if the data is stale, else cancelled, so a warning left by an earlier run goes away).
After that: a STRING write for each value whose text changed, a TEXT rewrite for a queue whose
colour changed, a priority set/cancel when staleness changes. At most one burst per
`min_interval_s`; changes in between coalesce (the latest value wins, a value that changes and
changes back writes nothing). Every packet carries one command: nested commands want a pause after
each STX that one contiguous write cannot give.

Stale: every source passed to on_sources() has been down for `stale_after_s` (none passed: never
stale). The sign then shows a red priority message naming them, until one comes back up.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from firmware_bridge.wallboard import alpha
from firmware_bridge.wallboard.settings import WallboardSettings

from .formatting import format_value
from .layout import STRING_SIZE, build_layout
from .levels import LEVELS, Thresholds, level

STALE_PREFIX = "NO LIVE DATA: "
MAX_PRIORITY = 120


@dataclass(frozen=True)
class SignWrite:
    """One packet for the sign. kind: "config" | "text" | "string" | "priority" | "cancel"."""
    kind: str
    label: str
    packet: bytes
    value: str = ""          # the STRING text, the queue's colour, or the priority message


@dataclass(frozen=True)
class SourceState:
    """A data source (PBX feed, line) as the daemon sees it; `since` is when it last changed state."""
    up: bool
    since: float


class SignPresenter:
    """One sign's decisions; pure (the clock is injected, nothing here does I/O)."""

    def __init__(self, settings: WallboardSettings, *, clock: Callable[[], float] = time.monotonic,
                 thresholds: Thresholds | None = None):
        settings.validate()
        self.settings = settings
        self.address = settings.address.upper()
        self.thresholds = thresholds      # None: the colour comes with the figures (levels)
        self.layout = build_layout(settings.queues, settings.template)
        self._clock = clock
        self._queues = {q.queue: q for q in self.layout.queues}
        self._values = {label: format_value(field, None)
                        for q in self.layout.queues for field, label in q.strings}
        self._levels = {q.queue: "green" for q in self.layout.queues}
        self._sources: dict[str, SourceState] = {}
        self._priority: str | None = None            # wanted priority message
        self._shown_values: dict[str, str] = {}
        self._shown_levels: dict[str, str] = {}
        self._shown_priority: str | None = None
        self._needs_setup = True
        self._last_write: float | None = None
        self.setups = 0
        self.writes = 0

    # ---- inputs ----------------------------------------------------------------------------

    def on_figures(self, figures: Mapping[str, Mapping[str, Any]],
                   levels: Mapping[str, str] | None = None) -> None:
        """Per-queue figures (template field -> number or None; times in seconds). Queues not in
        `figures` keep their values. `levels` overrides the colour the thresholds would give."""
        for name, queue in self._queues.items():
            if name not in figures:
                continue
            fig = figures[name]
            for field, label in queue.strings:
                self._values[label] = format_value(field, fig.get(field))[:STRING_SIZE]
            wanted = (levels or {}).get(name) or (level(fig, self.thresholds) if self.thresholds else "green")
            if wanted not in LEVELS:
                raise ValueError(f"level for {name!r} must be one of {LEVELS}, not {wanted!r}")
            self._levels[name] = wanted

    def on_sources(self, sources: Mapping[str, SourceState | tuple[bool, float]]) -> None:
        """The up/down state of every source feeding this sign's queues (replaces the last call)."""
        self._sources = {name: s if isinstance(s, SourceState) else SourceState(*s)
                         for name, s in sources.items()}

    def on_replug(self) -> None:
        """The sign may have lost everything (or shows a previous run's content): rewrite it all."""
        self._needs_setup = True

    # ---- outputs ---------------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        return self._stale_message(self._clock()) is not None

    def next_due(self) -> float | None:
        """Clock time at which take() will have something to write; None if nothing is waiting."""
        now = self._clock()
        candidates = []
        if self._differs(self._stale_message(now)):
            candidates.append(now if self._last_write is None
                              else max(now, self._last_write + self.settings.min_interval_s))
        down = [s for s in self._sources.values() if not s.up]
        if self._sources and len(down) == len(self._sources):
            becomes_stale = max(s.since for s in down) + self.settings.stale_after_s
            if becomes_stale > now:
                candidates.append(becomes_stale)
        return min(candidates) if candidates else None

    def take(self) -> list[SignWrite]:
        """The packets to send now, marked as shown; [] when nothing changed or rate-limited."""
        now = self._clock()
        self._priority = self._stale_message(now)
        if not self._differs(self._priority):
            return []
        if self._last_write is not None and now < self._last_write + self.settings.min_interval_s:
            return []
        self._last_write = now
        writes = self._setup() if self._needs_setup else self._updates()
        self.writes += len(writes)
        return writes

    def status(self) -> dict[str, Any]:
        return {"address": self.address, "stale": self._shown_priority is not None,
                "levels": dict(self._shown_levels), "setups": self.setups, "writes": self.writes,
                "pending": self._differs(self._priority)}

    # ---- internals -------------------------------------------------------------------------

    def _stale_message(self, now: float) -> str | None:
        if not self._sources or any(s.up for s in self._sources.values()):
            return None
        if now - max(s.since for s in self._sources.values()) < self.settings.stale_after_s:
            return None
        text = STALE_PREFIX + ", ".join(sorted(self._sources)) + " DOWN"
        return text if len(text) <= MAX_PRIORITY else text[:MAX_PRIORITY - 3] + "..."

    def _differs(self, priority: str | None) -> bool:
        return (self._needs_setup or priority != self._shown_priority
                or self._values != self._shown_values or self._levels != self._shown_levels)

    def _packet(self, cmd: alpha.Command) -> bytes:
        return alpha.packet(cmd, address=self.address, type_code=self.settings.type)

    def _text(self, queue: str) -> SignWrite:
        layout = self._queues[queue]
        colour = self._levels[queue]
        self._shown_levels[queue] = colour
        cmd = self.layout.text_command(layout, colour, self.settings.mode)
        return SignWrite("text", layout.text_label, self._packet(cmd), colour)

    def _string(self, label: str) -> SignWrite:
        value = self._values[label]
        self._shown_values[label] = value
        return SignWrite("string", label, self._packet(alpha.write_string(label, value)), value)

    def _priority_write(self) -> SignWrite:
        self._shown_priority = text = self._priority
        if text is None:
            return SignWrite("cancel", alpha.PRIORITY_LABEL, self._packet(alpha.cancel_priority()))
        cmd = alpha.set_priority(alpha.message(alpha.colour("red"), text))
        return SignWrite("priority", alpha.PRIORITY_LABEL, self._packet(cmd), text)

    def _setup(self) -> list[SignWrite]:
        self._needs_setup = False
        self.setups += 1
        config = alpha.memory_config(self.layout.files(self.settings.mode))
        writes = [SignWrite("config", "$", self._packet(config))]
        writes += [self._text(queue) for queue in self._queues]
        writes += [self._string(label) for label in self._values]
        writes.append(self._priority_write())
        return writes

    def _updates(self) -> list[SignWrite]:
        writes: list[SignWrite] = []
        priority_changed = self._priority != self._shown_priority
        if priority_changed and self._priority is not None:     # the warning goes up first
            writes.append(self._priority_write())
        writes += [self._string(label) for label, value in self._values.items()
                   if self._shown_values.get(label) != value]
        writes += [self._text(queue) for queue, colour in self._levels.items()
                   if self._shown_levels.get(queue) != colour]
        if priority_changed and self._priority is None:         # and comes down last
            writes.append(self._priority_write())
        return writes
