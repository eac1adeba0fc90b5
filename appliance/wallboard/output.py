"""Ties one sign's presenter to the driver of its port: figures and sources in, packets onto the wire.

    output = WallboardOutput(SignPresenter(settings, clock=loop.time), driver)
    output.on_figures(figures)          # -> the SignWrites sent now (maybe none: rate limit)
    output.on_sources(sources)
    output.tick()                       # call at output.next_due() (or about once a second)
    output.on_replug()                  # after the driver was reopened: the whole sign again

Nothing is sent while the driver is closed (changes coalesce until it is back). When the driver
gave up on a packet for this sign (ack mode: no ACK after every retry), the sign may be missing
anything, so the whole sign is rewritten at the next allowed moment.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from .presenter import SignPresenter, SignWrite, SourceState


class SignPort(Protocol):
    """What the output needs of firmware_bridge.wallboard.driver.WallboardDriver."""
    is_open: bool

    def send(self, address: str, data: bytes) -> None: ...

    def given_up(self, address: str) -> int: ...


class WallboardOutput:
    def __init__(self, presenter: SignPresenter, driver: SignPort):
        self.presenter = presenter
        self.driver = driver
        self.address = presenter.address
        self._given_up_seen = 0
        self.sent = 0

    def on_figures(self, figures: Mapping[str, Mapping[str, Any]],
                   levels: Mapping[str, str] | None = None) -> list[SignWrite]:
        self.presenter.on_figures(figures, levels)
        return self.tick()

    def on_sources(self, sources: Mapping[str, SourceState | tuple[bool, float]]) -> list[SignWrite]:
        self.presenter.on_sources(sources)
        return self.tick()

    def on_replug(self) -> list[SignWrite]:
        self.presenter.on_replug()
        self._given_up_seen = self.driver.given_up(self.address) if self.driver.is_open else 0
        return self.tick()

    def next_due(self) -> float | None:
        return self.presenter.next_due()

    def tick(self) -> list[SignWrite]:
        """Send whatever the presenter has due now; [] while the driver is closed."""
        if not self.driver.is_open:
            return []
        given_up = self.driver.given_up(self.address)
        if given_up > self._given_up_seen:
            self._given_up_seen = given_up
            self.presenter.on_replug()
        writes = self.presenter.take()
        for write in writes:
            self.driver.send(self.address, write.packet)
        self.sent += len(writes)
        return writes

    def status(self) -> dict[str, Any]:
        return {**self.presenter.status(), "sent": self.sent}
