"""Template -> sign files: one TEXT layout per queue (literal text, colour) calling one STRING per field.

    layout = build_layout(("sales", "support"), "{queue} {waiting} waiting")
    layout.files()                          # the E$ table: TEXT "A", "B"; STRING "a", "b"
    layout.text_command(layout.queues[0], "amber", mode="hold")
    layout.queues[0].strings                # (("waiting", "a"),): field -> STRING label

Queue i gets TEXT label TEXT_LABELS[i]; each live field of each queue gets the next STRING label
(`{queue}` is literal text in the layout: it never changes). The sign shows the TEXT files in turn
(its default run sequence), so each queue is one page with its own colour, and a colour change
rewrites only that queue's layout. Labels 1-5 are avoided (counter targets on some signs).
"""
from __future__ import annotations

import string
from dataclasses import dataclass

from firmware_bridge.wallboard.alpha import (Command, FileSpec, StringRef, colour, message,
                                             string_file, text_file, write_text)
from firmware_bridge.wallboard.settings import MAX_FILES

TEXT_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STRING_LABELS = "abcdefghijklmnopqrstuvwxyz6789"
STRING_SIZE = 16            # bytes per value STRING: "--", "12", "125:07" ... (longer is cut)
SIZE_STEP = 16              # TEXT files are allocated in steps of this many bytes


@dataclass(frozen=True)
class QueueLayout:
    queue: str
    text_label: str
    parts: tuple[str | StringRef, ...]        # literal text and STRING calls, in order
    strings: tuple[tuple[str, str], ...]      # (field, STRING label), one per distinct live field

    def label_of(self, field: str) -> str:
        return dict(self.strings)[field]


@dataclass(frozen=True)
class SignLayout:
    queues: tuple[QueueLayout, ...]
    position: str = "middle"

    def text_command(self, queue: QueueLayout, level: str, mode: str = "hold") -> Command:
        """The TEXT write for one queue in one colour (every colour code is 2 bytes: same size)."""
        return write_text(queue.text_label, message(colour(level), *queue.parts),
                          position=self.position, mode=mode)

    def files(self, mode: str = "hold") -> list[FileSpec]:
        """The memory table: every TEXT (sized for its layout), then every STRING."""
        texts = []
        for queue in self.queues:
            need = len(self.text_command(queue, "red", mode).data) - 1      # minus the label
            texts.append(text_file(queue.text_label, -(-need // SIZE_STEP) * SIZE_STEP))
        strings = [string_file(label, STRING_SIZE) for q in self.queues for _, label in q.strings]
        return texts + strings


def build_layout(queues: tuple[str, ...], template: str) -> SignLayout:
    """ValueError when the queues and template need more files than a sign holds."""
    parsed = list(string.Formatter().parse(template))
    fields = [name for _, name, _, _ in parsed if name and name != "queue"]
    distinct = list(dict.fromkeys(fields))
    if len(queues) > len(TEXT_LABELS) or len(queues) * (1 + len(distinct)) > MAX_FILES:
        raise ValueError(f"{len(queues)} queue(s) x {len(distinct)} field(s) need more than "
                         f"{MAX_FILES} sign files")
    labels = iter(STRING_LABELS)
    out = []
    for index, queue in enumerate(queues):
        strings = tuple((name, next(labels)) for name in distinct)
        by_field = dict(strings)
        parts: list[str | StringRef] = []
        for literal, name, _, _ in parsed:
            if literal:
                parts.append(literal)
            if name == "queue":
                parts.append(queue)
            elif name:
                parts.append(StringRef(by_field[name]))
        out.append(QueueLayout(queue, TEXT_LABELS[index], tuple(parts), strings))
    return SignLayout(tuple(out))
