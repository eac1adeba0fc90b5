"""Convert CallRecord <-> appliance.v1.cdr_pb2.CallRecord, and build the wire bytes of a CDR batch."""
from __future__ import annotations

from typing import Iterable

from appliance.calls.record import (DIRECTIONS, DISPOSITIONS, RECORDING_STATUSES, CallRecord, PciPause,
                               Recording, RecordingSegment)
from appliance.v1 import cdr_pb2, sync_pb2

_DIRECTION_TO_PB = {name: cdr_pb2.Direction.Value(name.upper()) for name in DIRECTIONS}
_DISPOSITION_TO_PB = {name: cdr_pb2.Disposition.Value(name.upper()) for name in DISPOSITIONS}
_DIRECTION_FROM_PB = {v: k for k, v in _DIRECTION_TO_PB.items()}
_DISPOSITION_FROM_PB = {v: k for k, v in _DISPOSITION_TO_PB.items()}

_STRING_FIELDS = ("key", "site_id", "source", "source_kind", "caller", "callee", "dialled_number",
                  "queue", "agent", "started_at", "answered_at", "ended_at", "pbx_call_id",
                  "caller_name", "raw", "recording_ref", "headset")
_RECORDING_TO_PB = {name: i for i, name in enumerate(RECORDING_STATUSES)}   # "" = UNSPECIFIED
_RECORDING_FROM_PB = {v: k for k, v in _RECORDING_TO_PB.items()}


class ConversionError(ValueError):
    """A record that cannot be expressed on the wire (unknown direction, negative duration, ...).

    Carries the record's key so the caller can dead-letter that one record and keep the rest.
    """

    def __init__(self, key: str, reason: str):
        super().__init__(f"record {key!r}: {reason}")
        self.key = key
        self.reason = reason


def to_pb(record: CallRecord) -> cdr_pb2.CallRecord:
    return _build(cdr_pb2.CallRecord, record)


def _build(factory, r: CallRecord) -> cdr_pb2.CallRecord:
    # Explicit keywords into the upb constructor: about twice as fast as building a dict or
    # copying finished messages into the batch.
    try:
        direction = _DIRECTION_TO_PB[r.direction]
    except KeyError:
        raise ConversionError(r.key, f"unknown direction {r.direction!r}") from None
    try:
        disposition = _DISPOSITION_TO_PB[r.disposition]
    except KeyError:
        raise ConversionError(r.key, f"unknown disposition {r.disposition!r}") from None
    try:
        return factory(
            key=r.key, site_id=r.site_id, source=r.source, source_kind=r.source_kind,
            direction=direction, caller=r.caller, callee=r.callee, dialled_number=r.dialled_number,
            queue=r.queue, agent=r.agent, started_at=r.started_at, answered_at=r.answered_at,
            ended_at=r.ended_at, ring_s=r.ring_s, talk_s=r.talk_s, hold_s=r.hold_s,
            disposition=disposition, pbx_call_id=r.pbx_call_id, leg=r.leg, final_leg=r.final_leg,
            caller_name=r.caller_name, raw=r.raw, recording_ref=r.recording_ref,
            **(_agent_fields(r) if r.headset or r.mute_intervals or r.wrap_up_s or r.interrupted else {}),
            **({"recording": _recording_pb(r.recording)} if r.recording is not None else {}))
    except KeyError as exc:
        raise ConversionError(r.key, f"unknown recording status {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:     # wrong type, out of uint32 range
        raise ConversionError(r.key, f"{exc} (a field has the wrong type or is out of range)") from None


def _agent_fields(r: CallRecord) -> dict:
    return dict(headset=r.headset, agent_ring_s=r.agent_ring_s, muted_s=r.muted_s,
                mute_intervals=[cdr_pb2.Interval(start_s=a, end_s=b) for a, b in r.mute_intervals],
                wrap_up_s=r.wrap_up_s, headset_lost=r.headset_lost, interrupted=r.interrupted)


def _ranges(pairs) -> list:
    return [cdr_pb2.SampleRange(start=a, end=b) for a, b in pairs]


def _recording_pb(rec: Recording) -> cdr_pb2.Recording:
    return cdr_pb2.Recording(
        status=_RECORDING_TO_PB[rec.status], reason=rec.reason, sample_rate=rec.sample_rate,
        samples=rec.samples, vad_mode=rec.vad_mode, talk_over_s=rec.talk_over_s, trimmed_s=rec.trimmed_s,
        segments=[cdr_pb2.RecordingSegment(index=s.index, name=s.name, sha256=s.sha256, bytes=s.bytes,
                                           first_sample=s.first_sample, samples=s.samples,
                                           complete=s.complete) for s in rec.segments],
        caller=cdr_pb2.VoiceActivity(speech_ratio=rec.caller_speech_ratio, speech=_ranges(rec.caller_speech)),
        agent=cdr_pb2.VoiceActivity(speech_ratio=rec.agent_speech_ratio, speech=_ranges(rec.agent_speech)),
        pci_pauses=[cdr_pb2.PciPause(start_s=p.start_s, end_s=p.end_s, paused_by=p.paused_by,
                                     resumed_by=p.resumed_by, paused_at=p.paused_at,
                                     resumed_at=p.resumed_at) for p in rec.pci_pauses])


def _recording_from_pb(msg: cdr_pb2.Recording) -> Recording:
    return Recording(
        status=_RECORDING_FROM_PB.get(msg.status, ""), reason=msg.reason, sample_rate=msg.sample_rate,
        samples=msg.samples, vad_mode=msg.vad_mode, talk_over_s=msg.talk_over_s, trimmed_s=msg.trimmed_s,
        segments=tuple(RecordingSegment(s.index, s.name, s.sha256, s.bytes, s.first_sample, s.samples,
                                        s.complete) for s in msg.segments),
        caller_speech_ratio=msg.caller.speech_ratio,
        caller_speech=tuple((r.start, r.end) for r in msg.caller.speech),
        agent_speech_ratio=msg.agent.speech_ratio,
        agent_speech=tuple((r.start, r.end) for r in msg.agent.speech),
        pci_pauses=tuple(PciPause(p.start_s, p.end_s, p.paused_by, p.resumed_by, p.paused_at,
                                  p.resumed_at) for p in msg.pci_pauses))


def from_pb(msg: cdr_pb2.CallRecord) -> CallRecord:
    try:
        direction = _DIRECTION_FROM_PB[msg.direction]
        disposition = _DISPOSITION_FROM_PB[msg.disposition]
    except KeyError as exc:
        raise ConversionError(msg.key, f"unspecified or unknown enum value {exc.args[0]}") from None
    strings = {name: getattr(msg, name) for name in _STRING_FIELDS}
    return CallRecord(direction=direction, disposition=disposition, ring_s=msg.ring_s,
                      talk_s=msg.talk_s, hold_s=msg.hold_s, leg=msg.leg, final_leg=msg.final_leg,
                      agent_ring_s=msg.agent_ring_s, muted_s=msg.muted_s, wrap_up_s=msg.wrap_up_s,
                      mute_intervals=tuple((i.start_s, i.end_s) for i in msg.mute_intervals),
                      headset_lost=msg.headset_lost, interrupted=msg.interrupted,
                      recording=_recording_from_pb(msg.recording) if msg.HasField("recording") else None,
                      **strings)


def batch_request(batch_id: int, records: Iterable[CallRecord]
                  ) -> tuple[sync_pb2.SyncRequest, list[ConversionError]]:
    """SyncRequest{batch} holding every record that converts; the failures are returned, not raised."""
    request = sync_pb2.SyncRequest()
    request.batch.batch_id = batch_id
    failed: list[ConversionError] = []
    add = request.batch.records.add
    for record in records:
        try:
            _build(add, record)
        except ConversionError as exc:
            failed.append(exc)
    return request, failed


def record_bytes(record: CallRecord) -> bytes | None:
    """The record's appliance.v1.CallRecord wire bytes, or None when it cannot be encoded (the sync
    then dead-letters it with the reason). What the store writer keeps in cdr.payload."""
    try:
        return _build(cdr_pb2.CallRecord, record).SerializeToString()
    except ConversionError:
        return None


def varint_bytes(value: int) -> bytes:
    """A protobuf base-128 varint (the central's wire helpers build acks with it too)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_RECORD_TAGS = [b"\x12" + varint_bytes(n) for n in range(1 << 11)]    # CdrBatch.records + a length < 2 KiB


def batch_bytes(batch_id: int, records: Iterable[bytes]) -> bytes:
    """SyncRequest{batch{batch_id, records}} from records already encoded, by concatenation.

    The layout a protobuf encoder writes (batch_id first, then the records), which the central
    slices without walking the fields; parsing it gives what batch_request would have built.
    """
    tags = _RECORD_TAGS
    parts = [b"\x08" + varint_bytes(batch_id)] if batch_id else []
    append = parts.append
    for record in records:
        size = len(record)
        append(tags[size] if size < 2048 else b"\x12" + varint_bytes(size))
        append(record)
    body = b"".join(parts)
    return b"\x12" + varint_bytes(len(body)) + body


def hello_request(site_id: str, appliance_version: str) -> sync_pb2.SyncRequest:
    return sync_pb2.SyncRequest(hello=sync_pb2.Hello(site_id=site_id,
                                                     appliance_version=appliance_version))


_CALL_EVENT_TYPES = {"ringing": "CALL_RINGING", "agent_ringing": "CALL_AGENT_RINGING", "answered": "CALL_ANSWERED",
                     "muted": "CALL_MUTED", "unmuted": "CALL_UNMUTED", "ended": "CALL_ENDED"}


def call_event(change):
    """appliance.calls.watch.CallChange -> appliance.v1.CallEvent (full numbers: the CRM pops the caller)."""
    from appliance.v1 import live_pb2
    return live_pb2.CallEvent(
        call_key=change.key, seq=change.seq, type=live_pb2.CallEventType.Value(_CALL_EVENT_TYPES[change.kind]),
        line=change.line, caller=change.caller, queue=change.queue, agent=change.agent, headset=change.headset,
        disposition=_DISPOSITION_TO_PB.get(change.disposition, 0), started_at=change.started_at,
        muted=change.muted)


def agent_event(change):
    """appliance.agents.AgentChanged -> appliance.v1.AgentEvent."""
    from appliance.common.time import iso_utc
    from appliance.v1 import live_pb2
    return live_pb2.AgentEvent(agent=change.agent, state=live_pb2.AgentState.Value(f"AGENT_{change.state.upper()}"),
                               headset=change.headset, queues=list(change.queues), call_key=change.call_key,
                               since=iso_utc(change.since, 3), reason=change.reason)
