from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_STATUS_UNSPECIFIED: _ClassVar[UploadStatus]
    UPLOAD_CONTINUE: _ClassVar[UploadStatus]
    UPLOAD_COMPLETE: _ClassVar[UploadStatus]
    UPLOAD_REJECTED: _ClassVar[UploadStatus]
    UPLOAD_RETRY_LATER: _ClassVar[UploadStatus]
UPLOAD_STATUS_UNSPECIFIED: UploadStatus
UPLOAD_CONTINUE: UploadStatus
UPLOAD_COMPLETE: UploadStatus
UPLOAD_REJECTED: UploadStatus
UPLOAD_RETRY_LATER: UploadStatus

class UploadRequest(_message.Message):
    __slots__ = ("offer", "chunk")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    offer: UploadOffer
    chunk: UploadChunk
    def __init__(self, offer: _Optional[_Union[UploadOffer, _Mapping]] = ..., chunk: _Optional[_Union[UploadChunk, _Mapping]] = ...) -> None: ...

class UploadOffer(_message.Message):
    __slots__ = ("site_id", "call_key", "index", "name", "size", "sha256")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_KEY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    call_key: str
    index: int
    name: str
    size: int
    sha256: str
    def __init__(self, site_id: _Optional[str] = ..., call_key: _Optional[str] = ..., index: _Optional[int] = ..., name: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("offset", "status", "reason")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    offset: int
    status: UploadStatus
    reason: str
    def __init__(self, offset: _Optional[int] = ..., status: _Optional[_Union[UploadStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...
