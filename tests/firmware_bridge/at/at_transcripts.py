"""Loads the AT golden transcripts (tests/data/at_*.txt) and replays them through an AtCodec."""
from __future__ import annotations

import codecs
import copy
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.at.protocol import AtCodec

DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class Step:
    """`send`: the host sent `command`. `recv`: the device printed `data`, giving `expected`."""
    kind: str
    command: str = ""
    data: bytes = b""
    expected: tuple[str, ...] = ()


@dataclass(frozen=True)
class Transcript:
    name: str
    kind: str
    steps: tuple[Step, ...]


def names() -> list[str]:
    return sorted(path.stem for path in DATA.glob("at_*.txt"))


def load(name: str) -> Transcript:
    kind = "gsm"
    steps: list[Step] = []
    for number, line in enumerate((DATA / f"{name}.txt").read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        tag, _, rest = line.partition(" ")
        if tag == "kind:":
            kind = rest.strip()
        elif tag == ">":
            steps.append(Step("send", command=rest))
        elif tag == "<":
            steps.append(Step("recv", data=codecs.escape_decode(rest.encode("ascii"))[0]))
        elif tag == "=":
            last = steps[-1] if steps else None
            if last is None or last.kind != "recv":
                raise ValueError(f"{name}:{number}: expectation without device output before it")
            steps[-1] = Step("recv", data=last.data, expected=last.expected + (rest,))
        else:
            raise ValueError(f"{name}:{number}: unknown line {line!r}")
    return Transcript(name, kind, tuple(steps))


def run_step(codec: AtCodec, step: Step, chunks: list[bytes] | None = None) -> list[str]:
    """Apply one step; for `recv` feed `chunks` (default: the data whole) and return event reprs."""
    if step.kind == "send":
        codec.command_sent(step.command)
        return []
    events = []
    for chunk in chunks if chunks is not None else [step.data]:
        events.extend(codec.feed(chunk))
    return [repr(event) for event in events]


def states_before_each_step(transcript: Transcript) -> list[AtCodec]:
    """A codec snapshot before every step, so one step can be re-fed many ways cheaply."""
    codec = AtCodec(transcript.kind)
    snapshots = []
    for step in transcript.steps:
        snapshots.append(copy.deepcopy(codec))
        run_step(codec, step)
    return snapshots
