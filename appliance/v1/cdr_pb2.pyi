from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
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

class RecordingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORDING_STATUS_UNSPECIFIED: _ClassVar[RecordingStatus]
    RECORDED: _ClassVar[RecordingStatus]
    TRUNCATED: _ClassVar[RecordingStatus]
    NOT_RECORDED: _ClassVar[RecordingStatus]
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
RECORDING_STATUS_UNSPECIFIED: RecordingStatus
RECORDED: RecordingStatus
TRUNCATED: RecordingStatus
NOT_RECORDED: RecordingStatus

class CallRecord(_message.Message):
    __slots__ = ("key", "site_id", "source", "source_kind", "direction", "caller", "callee", "dialled_number", "queue", "agent", "started_at", "answered_at", "ended_at", "ring_s", "talk_s", "hold_s", "disposition", "pbx_call_id", "leg", "final_leg", "caller_name", "raw", "recording_ref", "headset", "agent_ring_s", "mute_intervals", "muted_s", "wrap_up_s", "headset_lost", "interrupted", "recording")
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
    HEADSET_FIELD_NUMBER: _ClassVar[int]
    AGENT_RING_S_FIELD_NUMBER: _ClassVar[int]
    MUTE_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    MUTED_S_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_S_FIELD_NUMBER: _ClassVar[int]
    HEADSET_LOST_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
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
    headset: str
    agent_ring_s: int
    mute_intervals: _containers.RepeatedCompositeFieldContainer[Interval]
    muted_s: float
    wrap_up_s: int
    headset_lost: bool
    interrupted: bool
    recording: Recording
    def __init__(self, key: _Optional[str] = ..., site_id: _Optional[str] = ..., source: _Optional[str] = ..., source_kind: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., caller: _Optional[str] = ..., callee: _Optional[str] = ..., dialled_number: _Optional[str] = ..., queue: _Optional[str] = ..., agent: _Optional[str] = ..., started_at: _Optional[str] = ..., answered_at: _Optional[str] = ..., ended_at: _Optional[str] = ..., ring_s: _Optional[int] = ..., talk_s: _Optional[int] = ..., hold_s: _Optional[int] = ..., disposition: _Optional[_Union[Disposition, str]] = ..., pbx_call_id: _Optional[str] = ..., leg: _Optional[int] = ..., final_leg: _Optional[bool] = ..., caller_name: _Optional[str] = ..., raw: _Optional[str] = ..., recording_ref: _Optional[str] = ..., headset: _Optional[str] = ..., agent_ring_s: _Optional[int] = ..., mute_intervals: _Optional[_Iterable[_Union[Interval, _Mapping]]] = ..., muted_s: _Optional[float] = ..., wrap_up_s: _Optional[int] = ..., headset_lost: _Optional[bool] = ..., interrupted: _Optional[bool] = ..., recording: _Optional[_Union[Recording, _Mapping]] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ("start_s", "end_s")
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    start_s: float
    end_s: float
    def __init__(self, start_s: _Optional[float] = ..., end_s: _Optional[float] = ...) -> None: ...

class Recording(_message.Message):
    __slots__ = ("status", "reason", "sample_rate", "samples", "segments", "caller", "agent", "talk_over_s", "pci_pauses", "vad_mode", "trimmed_s")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TALK_OVER_S_FIELD_NUMBER: _ClassVar[int]
    PCI_PAUSES_FIELD_NUMBER: _ClassVar[int]
    VAD_MODE_FIELD_NUMBER: _ClassVar[int]
    TRIMMED_S_FIELD_NUMBER: _ClassVar[int]
    status: RecordingStatus
    reason: str
    sample_rate: int
    samples: int
    segments: _containers.RepeatedCompositeFieldContainer[RecordingSegment]
    caller: VoiceActivity
    agent: VoiceActivity
    talk_over_s: float
    pci_pauses: _containers.RepeatedCompositeFieldContainer[PciPause]
    vad_mode: int
    trimmed_s: float
    def __init__(self, status: _Optional[_Union[RecordingStatus, str]] = ..., reason: _Optional[str] = ..., sample_rate: _Optional[int] = ..., samples: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[RecordingSegment, _Mapping]]] = ..., caller: _Optional[_Union[VoiceActivity, _Mapping]] = ..., agent: _Optional[_Union[VoiceActivity, _Mapping]] = ..., talk_over_s: _Optional[float] = ..., pci_pauses: _Optional[_Iterable[_Union[PciPause, _Mapping]]] = ..., vad_mode: _Optional[int] = ..., trimmed_s: _Optional[float] = ...) -> None: ...

class RecordingSegment(_message.Message):
    __slots__ = ("index", "name", "sha256", "bytes", "first_sample", "samples", "complete")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    FIRST_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    sha256: str
    bytes: int
    first_sample: int
    samples: int
    complete: bool
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., sha256: _Optional[str] = ..., bytes: _Optional[int] = ..., first_sample: _Optional[int] = ..., samples: _Optional[int] = ..., complete: _Optional[bool] = ...) -> None: ...

class VoiceActivity(_message.Message):
    __slots__ = ("speech_ratio", "speech")
    SPEECH_RATIO_FIELD_NUMBER: _ClassVar[int]
    SPEECH_FIELD_NUMBER: _ClassVar[int]
    speech_ratio: float
    speech: _containers.RepeatedCompositeFieldContainer[SampleRange]
    def __init__(self, speech_ratio: _Optional[float] = ..., speech: _Optional[_Iterable[_Union[SampleRange, _Mapping]]] = ...) -> None: ...

class SampleRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class PciPause(_message.Message):
    __slots__ = ("start_s", "end_s", "paused_by", "resumed_by", "paused_at", "resumed_at")
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    PAUSED_BY_FIELD_NUMBER: _ClassVar[int]
    RESUMED_BY_FIELD_NUMBER: _ClassVar[int]
    PAUSED_AT_FIELD_NUMBER: _ClassVar[int]
    RESUMED_AT_FIELD_NUMBER: _ClassVar[int]
    start_s: float
    end_s: float
    paused_by: str
    resumed_by: str
    paused_at: str
    resumed_at: str
    def __init__(self, start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., paused_by: _Optional[str] = ..., resumed_by: _Optional[str] = ..., paused_at: _Optional[str] = ..., resumed_at: _Optional[str] = ...) -> None: ...
