from appliance.v1 import cdr_pb2 as _cdr_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_EVENT_TYPE_UNSPECIFIED: _ClassVar[CallEventType]
    CALL_RINGING: _ClassVar[CallEventType]
    CALL_ANSWERED: _ClassVar[CallEventType]
    CALL_MUTED: _ClassVar[CallEventType]
    CALL_UNMUTED: _ClassVar[CallEventType]
    CALL_ENDED: _ClassVar[CallEventType]
    CALL_AGENT_RINGING: _ClassVar[CallEventType]

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_LOGGED_OUT: _ClassVar[AgentState]
    AGENT_AVAILABLE: _ClassVar[AgentState]
    AGENT_RINGING: _ClassVar[AgentState]
    AGENT_ON_CALL: _ClassVar[AgentState]
    AGENT_WRAP_UP: _ClassVar[AgentState]
    AGENT_PAUSED: _ClassVar[AgentState]

class AlertLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_LEVEL_UNSPECIFIED: _ClassVar[AlertLevel]
    ALERT_CLEARED: _ClassVar[AlertLevel]
    ALERT_RAISED: _ClassVar[AlertLevel]
CALL_EVENT_TYPE_UNSPECIFIED: CallEventType
CALL_RINGING: CallEventType
CALL_ANSWERED: CallEventType
CALL_MUTED: CallEventType
CALL_UNMUTED: CallEventType
CALL_ENDED: CallEventType
CALL_AGENT_RINGING: CallEventType
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_LOGGED_OUT: AgentState
AGENT_AVAILABLE: AgentState
AGENT_RINGING: AgentState
AGENT_ON_CALL: AgentState
AGENT_WRAP_UP: AgentState
AGENT_PAUSED: AgentState
ALERT_LEVEL_UNSPECIFIED: AlertLevel
ALERT_CLEARED: AlertLevel
ALERT_RAISED: AlertLevel

class PublishRequest(_message.Message):
    __slots__ = ("hello", "event")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    hello: PublishHello
    event: LiveEvent
    def __init__(self, hello: _Optional[_Union[PublishHello, _Mapping]] = ..., event: _Optional[_Union[LiveEvent, _Mapping]] = ...) -> None: ...

class PublishHello(_message.Message):
    __slots__ = ("site_id", "appliance_version")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIANCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    appliance_version: str
    def __init__(self, site_id: _Optional[str] = ..., appliance_version: _Optional[str] = ...) -> None: ...

class PublishAck(_message.Message):
    __slots__ = ("site_seq",)
    SITE_SEQ_FIELD_NUMBER: _ClassVar[int]
    site_seq: int
    def __init__(self, site_seq: _Optional[int] = ...) -> None: ...

class CallEvent(_message.Message):
    __slots__ = ("call_key", "seq", "type", "line", "caller", "queue", "agent", "headset", "disposition", "started_at", "muted")
    CALL_KEY_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    HEADSET_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    call_key: str
    seq: int
    type: CallEventType
    line: str
    caller: str
    queue: str
    agent: str
    headset: str
    disposition: _cdr_pb2.Disposition
    started_at: str
    muted: bool
    def __init__(self, call_key: _Optional[str] = ..., seq: _Optional[int] = ..., type: _Optional[_Union[CallEventType, str]] = ..., line: _Optional[str] = ..., caller: _Optional[str] = ..., queue: _Optional[str] = ..., agent: _Optional[str] = ..., headset: _Optional[str] = ..., disposition: _Optional[_Union[_cdr_pb2.Disposition, str]] = ..., started_at: _Optional[str] = ..., muted: _Optional[bool] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("agent", "state", "headset", "queues", "call_key", "since", "reason")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEADSET_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    CALL_KEY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    agent: str
    state: AgentState
    headset: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    call_key: str
    since: str
    reason: str
    def __init__(self, agent: _Optional[str] = ..., state: _Optional[_Union[AgentState, str]] = ..., headset: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., call_key: _Optional[str] = ..., since: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("queue", "kpi", "level", "value", "threshold", "text")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    KPI_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    queue: str
    kpi: str
    level: AlertLevel
    value: float
    threshold: float
    text: str
    def __init__(self, queue: _Optional[str] = ..., kpi: _Optional[str] = ..., level: _Optional[_Union[AlertLevel, str]] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class PeriodStats(_message.Message):
    __slots__ = ("since", "offered", "answered", "abandoned", "short_abandoned", "service_level_pct", "has_service_level", "abandon_rate_pct", "has_abandon_rate", "asa_s", "has_asa", "aht_s", "has_aht", "longest_wait_s", "answered_within_sl", "abandoned_after_sl")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    SHORT_ABANDONED_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_PCT_FIELD_NUMBER: _ClassVar[int]
    HAS_SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ABANDON_RATE_PCT_FIELD_NUMBER: _ClassVar[int]
    HAS_ABANDON_RATE_FIELD_NUMBER: _ClassVar[int]
    ASA_S_FIELD_NUMBER: _ClassVar[int]
    HAS_ASA_FIELD_NUMBER: _ClassVar[int]
    AHT_S_FIELD_NUMBER: _ClassVar[int]
    HAS_AHT_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_WITHIN_SL_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_AFTER_SL_FIELD_NUMBER: _ClassVar[int]
    since: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    service_level_pct: float
    has_service_level: bool
    abandon_rate_pct: float
    has_abandon_rate: bool
    asa_s: float
    has_asa: bool
    aht_s: float
    has_aht: bool
    longest_wait_s: float
    answered_within_sl: int
    abandoned_after_sl: int
    def __init__(self, since: _Optional[str] = ..., offered: _Optional[int] = ..., answered: _Optional[int] = ..., abandoned: _Optional[int] = ..., short_abandoned: _Optional[int] = ..., service_level_pct: _Optional[float] = ..., has_service_level: _Optional[bool] = ..., abandon_rate_pct: _Optional[float] = ..., has_abandon_rate: _Optional[bool] = ..., asa_s: _Optional[float] = ..., has_asa: _Optional[bool] = ..., aht_s: _Optional[float] = ..., has_aht: _Optional[bool] = ..., longest_wait_s: _Optional[float] = ..., answered_within_sl: _Optional[int] = ..., abandoned_after_sl: _Optional[int] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("queue", "live_available", "waiting", "longest_wait_now_s", "agents_available", "agents_ringing", "agents_on_call", "agents_wrap_up", "agents_paused", "agents_logged_out", "window", "window_s", "today", "service_level_s", "short_abandon_s")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    LIVE_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_NOW_S_FIELD_NUMBER: _ClassVar[int]
    AGENTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_RINGING_FIELD_NUMBER: _ClassVar[int]
    AGENTS_ON_CALL_FIELD_NUMBER: _ClassVar[int]
    AGENTS_WRAP_UP_FIELD_NUMBER: _ClassVar[int]
    AGENTS_PAUSED_FIELD_NUMBER: _ClassVar[int]
    AGENTS_LOGGED_OUT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_S_FIELD_NUMBER: _ClassVar[int]
    SHORT_ABANDON_S_FIELD_NUMBER: _ClassVar[int]
    queue: str
    live_available: bool
    waiting: int
    longest_wait_now_s: float
    agents_available: int
    agents_ringing: int
    agents_on_call: int
    agents_wrap_up: int
    agents_paused: int
    agents_logged_out: int
    window: PeriodStats
    window_s: int
    today: PeriodStats
    service_level_s: int
    short_abandon_s: int
    def __init__(self, queue: _Optional[str] = ..., live_available: _Optional[bool] = ..., waiting: _Optional[int] = ..., longest_wait_now_s: _Optional[float] = ..., agents_available: _Optional[int] = ..., agents_ringing: _Optional[int] = ..., agents_on_call: _Optional[int] = ..., agents_wrap_up: _Optional[int] = ..., agents_paused: _Optional[int] = ..., agents_logged_out: _Optional[int] = ..., window: _Optional[_Union[PeriodStats, _Mapping]] = ..., window_s: _Optional[int] = ..., today: _Optional[_Union[PeriodStats, _Mapping]] = ..., service_level_s: _Optional[int] = ..., short_abandon_s: _Optional[int] = ...) -> None: ...

class SiteSnapshot(_message.Message):
    __slots__ = ("calls", "agents", "alerts", "queues")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[CallEvent]
    agents: _containers.RepeatedCompositeFieldContainer[AgentEvent]
    alerts: _containers.RepeatedCompositeFieldContainer[AlertEvent]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    def __init__(self, calls: _Optional[_Iterable[_Union[CallEvent, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[AgentEvent, _Mapping]]] = ..., alerts: _Optional[_Iterable[_Union[AlertEvent, _Mapping]]] = ..., queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ...) -> None: ...

class LiveEvent(_message.Message):
    __slots__ = ("site_id", "site_seq", "at", "call", "agent", "alert", "stats", "snapshot")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    site_seq: int
    at: str
    call: CallEvent
    agent: AgentEvent
    alert: AlertEvent
    stats: QueueStats
    snapshot: SiteSnapshot
    def __init__(self, site_id: _Optional[str] = ..., site_seq: _Optional[int] = ..., at: _Optional[str] = ..., call: _Optional[_Union[CallEvent, _Mapping]] = ..., agent: _Optional[_Union[AgentEvent, _Mapping]] = ..., alert: _Optional[_Union[AlertEvent, _Mapping]] = ..., stats: _Optional[_Union[QueueStats, _Mapping]] = ..., snapshot: _Optional[_Union[SiteSnapshot, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("sites", "queues", "agents", "include_stats")
    SITES_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATS_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedScalarFieldContainer[str]
    queues: _containers.RepeatedScalarFieldContainer[str]
    agents: _containers.RepeatedScalarFieldContainer[str]
    include_stats: bool
    def __init__(self, sites: _Optional[_Iterable[str]] = ..., queues: _Optional[_Iterable[str]] = ..., agents: _Optional[_Iterable[str]] = ..., include_stats: _Optional[bool] = ...) -> None: ...
