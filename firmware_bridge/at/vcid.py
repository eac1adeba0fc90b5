"""V.253 / Rockwell #CID formatted caller ID: assemble `TAG = value` lines into one CallerId."""
from __future__ import annotations

import re

from ..events import CallerId

TAG_LINE = re.compile(r"^\s*([A-Z_]+)\s*=\s*(.*)$")

# NMBR / NAME values that stand for "no data" rather than a number or a name.
_PRIVATE = "P"        # withheld by the caller
_OUT_OF_AREA = "O"    # not available

KNOWN_TAGS = frozenset({"DATE", "TIME", "NMBR", "DDN_NMBR", "NAME", "MESG"})
_MAPPED_TAGS = frozenset({"DATE", "TIME", "NMBR", "NAME"})   # the rest travels in CallerId.extra


class CallerIdBlock:
    """Collects the tag lines a voice modem prints after the first ring.

    A block is complete when NAME arrives and a number is known (or the number arrives and NAME
    is known), at a blank line after the number, when a tag repeats, or when any other line
    (RING, a result code) arrives. A NAME or MESG that arrives right after a block was completed
    at a blank line amends it: a second CallerId with the same number and the name is emitted.

    DDN_NMBR (Bellcore "dialable directory number") is taken as the caller's number when there
    is no NMBR; NMBR wins when both are present.
    """

    def __init__(self) -> None:
        self._tags: dict[str, str] = {}
        self._last: CallerId | None = None
        self.stats = {"blocks": 0, "amended": 0, "unknown_tags": 0, "mesg": 0}

    @property
    def open(self) -> bool:
        return bool(self._tags)

    def tag(self, name: str, value: str) -> list[CallerId]:
        value = value.strip()
        out: list[CallerId] = []
        if name not in KNOWN_TAGS:
            self.stats["unknown_tags"] += 1
        if name == "MESG":
            self.stats["mesg"] += 1
        if not self._tags and self._last is not None and name in ("NAME", "MESG"):
            if name == "NAME" and not self._last.name and value not in (_PRIVATE, _OUT_OF_AREA):
                out.append(self._amend(value))
            return out
        if name in self._tags:
            out.extend(self._complete())
        self._tags[name] = value
        if name == "NAME" and self._has_number():
            out.extend(self._complete())
        elif name in ("NMBR", "DDN_NMBR") and "NAME" in self._tags:
            out.extend(self._complete())
        return out

    def blank(self) -> list[CallerId]:
        """A blank line: completes a block that already has its number."""
        if self._tags and self._has_number():
            return self._complete()
        return []

    def interrupt(self) -> list[CallerId]:
        """Any non-tag line: whatever was collected is complete; no amendment after this."""
        out = self._complete() if self._tags else []
        self._last = None
        return out

    def _has_number(self) -> bool:
        return "NMBR" in self._tags or "DDN_NMBR" in self._tags

    def _complete(self) -> list[CallerId]:
        tags, self._tags = self._tags, {}
        raw_number = tags.get("NMBR", tags.get("DDN_NMBR", ""))
        raw_name = tags.get("NAME", "")
        name = "" if raw_name in (_PRIVATE, _OUT_OF_AREA) else raw_name
        if raw_number == _PRIVATE or (not raw_number and raw_name == _PRIVATE):
            number, validity = "", "withheld"
        elif raw_number in ("", _OUT_OF_AREA):
            number, validity = "", "unavailable"
        else:
            number, validity = raw_number, "valid"
        extra = tuple((k, v) for k, v in tags.items() if k not in _MAPPED_TAGS)
        event = CallerId(number=number, name=name, validity=validity,
                         date=tags.get("DATE", ""), time=tags.get("TIME", ""), extra=extra)
        self._last = event
        self.stats["blocks"] += 1
        return [event]

    def _amend(self, name: str) -> CallerId:
        assert self._last is not None
        event = CallerId(number=self._last.number, name=name, validity=self._last.validity,
                         date=self._last.date, time=self._last.time, extra=self._last.extra)
        self._last = event
        self.stats["amended"] += 1
        return event
