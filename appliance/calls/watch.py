"""Live call changes for screen-pop: what began ringing, was answered, muted or ended. Pure: no clock, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, replace

from appliance.calls.record import CallRecord
from appliance.calls.source import LiveCall


@dataclass(frozen=True, slots=True)
class CallChange:
    """One change of one call, numbered per call from 1 without gaps (`seq`)."""
    key: str
    seq: int
    kind: str                    # "ringing" | "agent_ringing" | "answered" | "muted" | "unmuted" | "ended"
    line: str
    caller: str
    queue: str
    started_at: str
    agent: str = ""
    headset: str = ""
    disposition: str = ""        # for "ended"
    muted: bool = False


class CallWatcher:
    """Turns the call tracker's live calls (and the agents' doings) into numbered changes.

    `update(live, finished)` after every batch of events: calls that appeared give "ringing"
    (inbound) or nothing yet (outbound: announced when answered), answered ones "answered", and
    the records just finished "ended" with their disposition. `agent(...)` and `mute(...)` add
    what only the agents know. `current()` is the latest change of every call in progress, the
    snapshot a subscriber needs after a reconnect.
    """

    def __init__(self):
        self._calls: dict[str, CallChange] = {}     # key -> latest change of a call in progress

    def update(self, live: list[LiveCall], finished: list[CallRecord]) -> list[CallChange]:
        out: list[CallChange] = []
        for call in live:
            known = self._calls.get(call.key)
            if known is None:
                if call.direction != "inbound" and call.answered_at is None:
                    continue
                base = CallChange(call.key, 0, "", call.source, call.caller, call.queue,
                                  call.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                out.append(self._next(base, "ringing" if call.answered_at is None else "answered"))
            elif call.answered_at is not None and known.kind in ("ringing", "agent_ringing"):
                out.append(self._next(replace(known, caller=call.caller or known.caller), "answered"))
            elif call.caller and call.caller != known.caller:
                # The caller ID came after the first ring: say "ringing" again, now with the number.
                out.append(self._next(replace(known, caller=call.caller), known.kind))
        for record in finished if self._calls else ():       # PBX legs by the thousand, no call watched
            known = self._calls.pop(record.key, None)
            if known is not None:
                out.append(replace(known, seq=known.seq + 1, kind="ended", disposition=record.disposition,
                                   agent=record.agent or known.agent, headset=record.headset or known.headset))
        return out

    def agent(self, key: str, kind: str, agent: str, headset: str) -> list[CallChange]:
        """An agent's headset rings for the call ("agent_ringing"), or the agent took it ("answered").

        The agent takes the call before the line confirms the answer: the agent is remembered and
        the "answered" change, when the line confirms it, names them.
        """
        known = self._calls.get(key)
        if known is None:
            return []
        if kind == "answered":
            named = replace(known, agent=agent, headset=headset)
            if known.kind != "answered" or known.agent:
                self._calls[key] = named
                return []
            return [self._next(named, "answered")]
        return [self._next(replace(known, agent=agent, headset=headset), kind)]

    def mute(self, key: str, muted: bool) -> list[CallChange]:
        known = self._calls.get(key)
        if known is None or known.muted == muted:
            return []
        return [self._next(replace(known, muted=muted), "muted" if muted else "unmuted")]

    def current(self) -> list[CallChange]:
        return list(self._calls.values())

    def _next(self, known: CallChange, kind: str) -> CallChange:
        change = replace(known, seq=known.seq + 1, kind=kind)
        self._calls[change.key] = change
        return change
