"""The daemon's wallboards: one driver per port, one output per sign, fed queue figures and source states."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable, Mapping

from firmware_bridge.registry import kind as device_kind
from firmware_bridge.wallboard.settings import WallboardSettings, group_by_port

from appliance.common.backoff import Backoff, BackoffPolicy
from appliance.devices import DeviceRunner
from appliance.wallboard.levels import LEVELS, Thresholds, level
from appliance.wallboard.output import WallboardOutput
from appliance.wallboard.presenter import SignPresenter, SourceState

log = logging.getLogger("appliance.wallboard")


class WallboardService:
    """Signs sharing a port share one driver (and one runner: UP/DOWN, reconnect with back-off).
    After every (re)open each sign on that port is configured again. Colours come from the queues'
    own thresholds ([[queue]] alert_*): red while the queue's alert is raised (the alert's
    hysteresis keeps the colour from flapping), amber as a figure approaches its threshold."""

    def __init__(self, signs: Iterable[WallboardSettings], *, clock: Callable[[], float]):
        self._clock = clock
        self.runners: list[DeviceRunner] = []
        self.outputs: dict[str, WallboardOutput] = {}        # sign name -> output
        self._by_driver: dict[str, list[WallboardOutput]] = {}
        driver_cls = device_kind("alpha").load("driver")
        for group in group_by_port(signs):
            driver = driver_cls.from_settings(group, clock=clock)
            outputs = [WallboardOutput(SignPresenter(s, clock=clock), driver) for s in group]
            self._by_driver[driver.name] = outputs
            for s, out in zip(group, outputs):
                self.outputs[s.name] = out
            policy = BackoffPolicy(group[0].reconnect_delay, group[0].reconnect_delay_max)
            self.runners.append(DeviceRunner("alpha", driver, self._events, Backoff(policy),
                                             on_up=self._replugged, clock=clock))
        self._queues = {name: out.presenter.settings.queues for name, out in self.outputs.items()}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        for runner in self.runners:
            runner.start(loop)

    def _events(self, name: str, events: list, mark) -> None:
        """What the signs said (ACK/NAK, reads): the driver keeps its own account of it."""

    def _replugged(self, driver_name: str) -> None:
        for out in self._by_driver.get(driver_name, ()):
            out.on_replug()

    def on_stats(self, figures: Mapping[str, dict], thresholds: Mapping[str, tuple[float, float]],
                 raised: set[str]) -> None:
        """New figures per queue; thresholds per queue (longest wait s, service level %); queues
        whose alert is raised."""
        levels = {q: self._level(q, fig, thresholds.get(q, (0, 0)), q in raised) for q, fig in figures.items()}
        for out in self.outputs.values():
            out.on_figures(figures, levels)

    @staticmethod
    def _level(queue: str, figures: dict, limits: tuple[float, float], raised: bool) -> str:
        if raised:
            return "red"
        wait_s, sl_pct = limits
        if not wait_s and not sl_pct:
            return "green"
        colour = level(figures, Thresholds(alert_longest_wait_s=wait_s or float("inf"),
                                           alert_service_level_pct=sl_pct or 0.0))
        return LEVELS[min(LEVELS.index(colour), 1)]    # red only once the alert is raised

    def on_sources(self, sources: Mapping[str, tuple[bool, float, str]]) -> None:
        """Every device that feeds queues: name -> (up, since, its queue). A sign hears of the
        devices feeding its own queues, so it goes stale only when all of those are down."""
        for name, out in self.outputs.items():
            mine = {dev: SourceState(up, since) for dev, (up, since, queue) in sources.items()
                    if queue in self._queues[name]}
            out.on_sources(mine)

    def tick(self, now: float) -> None:
        for runner in self.runners:
            runner.poll(now)
        for out in self.outputs.values():
            due = out.next_due()
            if due is not None and due <= now:
                out.tick()

    def status(self) -> list[dict]:
        return [{"name": name, **out.status()} for name, out in self.outputs.items()]

    def close(self) -> None:
        for runner in self.runners:
            runner.close()
