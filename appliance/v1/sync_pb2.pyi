from appliance.v1 import cdr_pb2 as _cdr_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    STORED: _ClassVar[AckStatus]
    DUPLICATE: _ClassVar[AckStatus]
    REJECTED: _ClassVar[AckStatus]

class CheckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_STATUS_UNSPECIFIED: _ClassVar[CheckStatus]
    PASS: _ClassVar[CheckStatus]
    WARN: _ClassVar[CheckStatus]
    FAIL: _ClassVar[CheckStatus]
    SKIP: _ClassVar[CheckStatus]
ACK_STATUS_UNSPECIFIED: AckStatus
STORED: AckStatus
DUPLICATE: AckStatus
REJECTED: AckStatus
CHECK_STATUS_UNSPECIFIED: CheckStatus
PASS: CheckStatus
WARN: CheckStatus
FAIL: CheckStatus
SKIP: CheckStatus

class SyncRequest(_message.Message):
    __slots__ = ("hello", "batch")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: CdrBatch
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[CdrBatch, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("site_id", "appliance_version")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIANCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    appliance_version: str
    def __init__(self, site_id: _Optional[str] = ..., appliance_version: _Optional[str] = ...) -> None: ...

class CdrBatch(_message.Message):
    __slots__ = ("batch_id", "records")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    records: _containers.RepeatedCompositeFieldContainer[_cdr_pb2.CallRecord]
    def __init__(self, batch_id: _Optional[int] = ..., records: _Optional[_Iterable[_Union[_cdr_pb2.CallRecord, _Mapping]]] = ...) -> None: ...

class RecordAck(_message.Message):
    __slots__ = ("key", "status", "reason")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    key: str
    status: AckStatus
    reason: str
    def __init__(self, key: _Optional[str] = ..., status: _Optional[_Union[AckStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SyncResponse(_message.Message):
    __slots__ = ("batch_id", "acks")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    acks: _containers.RepeatedCompositeFieldContainer[RecordAck]
    def __init__(self, batch_id: _Optional[int] = ..., acks: _Optional[_Iterable[_Union[RecordAck, _Mapping]]] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("name", "status", "detail", "hint", "duration_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: CheckStatus
    detail: str
    hint: str
    duration_ms: int
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[CheckStatus, str]] = ..., detail: _Optional[str] = ..., hint: _Optional[str] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class SelfTestReport(_message.Message):
    __slots__ = ("site_id", "run_id", "started_at", "verdict", "checks", "appliance_version")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    APPLIANCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    run_id: str
    started_at: str
    verdict: CheckStatus
    checks: _containers.RepeatedCompositeFieldContainer[CheckResult]
    appliance_version: str
    def __init__(self, site_id: _Optional[str] = ..., run_id: _Optional[str] = ..., started_at: _Optional[str] = ..., verdict: _Optional[_Union[CheckStatus, str]] = ..., checks: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., appliance_version: _Optional[str] = ...) -> None: ...

class SelfTestAck(_message.Message):
    __slots__ = ("status", "reason")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    status: AckStatus
    reason: str
    def __init__(self, status: _Optional[_Union[AckStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...
