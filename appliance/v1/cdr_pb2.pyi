from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    INBOUND: _ClassVar[Direction]
    OUTBOUND: _ClassVar[Direction]
    INTERNAL: _ClassVar[Direction]

class Disposition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPOSITION_UNSPECIFIED: _ClassVar[Disposition]
    ANSWERED: _ClassVar[Disposition]
    ABANDONED: _ClassVar[Disposition]
    BUSY: _ClassVar[Disposition]
    NO_ANSWER: _ClassVar[Disposition]
    FAILED: _ClassVar[Disposition]
DIRECTION_UNSPECIFIED: Direction
INBOUND: Direction
OUTBOUND: Direction
INTERNAL: Direction
DISPOSITION_UNSPECIFIED: Disposition
ANSWERED: Disposition
ABANDONED: Disposition
BUSY: Disposition
NO_ANSWER: Disposition
FAILED: Disposition

class CallRecord(_message.Message):
    __slots__ = ("key", "site_id", "source", "source_kind", "direction", "caller", "callee", "dialled_number", "queue", "agent", "started_at", "answered_at", "ended_at", "ring_s", "talk_s", "hold_s", "disposition", "pbx_call_id", "leg", "final_leg", "caller_name", "raw", "recording_ref")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CALLEE_FIELD_NUMBER: _ClassVar[int]
    DIALLED_NUMBER_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    RING_S_FIELD_NUMBER: _ClassVar[int]
    TALK_S_FIELD_NUMBER: _ClassVar[int]
    HOLD_S_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    PBX_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    LEG_FIELD_NUMBER: _ClassVar[int]
    FINAL_LEG_FIELD_NUMBER: _ClassVar[int]
    CALLER_NAME_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    RECORDING_REF_FIELD_NUMBER: _ClassVar[int]
    key: str
    site_id: str
    source: str
    source_kind: str
    direction: Direction
    caller: str
    callee: str
    dialled_number: str
    queue: str
    agent: str
    started_at: str
    answered_at: str
    ended_at: str
    ring_s: int
    talk_s: int
    hold_s: int
    disposition: Disposition
    pbx_call_id: str
    leg: int
    final_leg: bool
    caller_name: str
    raw: str
    recording_ref: str
    def __init__(self, key: _Optional[str] = ..., site_id: _Optional[str] = ..., source: _Optional[str] = ..., source_kind: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., caller: _Optional[str] = ..., callee: _Optional[str] = ..., dialled_number: _Optional[str] = ..., queue: _Optional[str] = ..., agent: _Optional[str] = ..., started_at: _Optional[str] = ..., answered_at: _Optional[str] = ..., ended_at: _Optional[str] = ..., ring_s: _Optional[int] = ..., talk_s: _Optional[int] = ..., hold_s: _Optional[int] = ..., disposition: _Optional[_Union[Disposition, str]] = ..., pbx_call_id: _Optional[str] = ..., leg: _Optional[int] = ..., final_leg: _Optional[bool] = ..., caller_name: _Optional[str] = ..., raw: _Optional[str] = ..., recording_ref: _Optional[str] = ...) -> None: ...
