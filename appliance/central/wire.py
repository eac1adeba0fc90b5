"""Slice the records of a serialized SyncRequest out of its wire bytes, so each is stored exactly as the site sent it."""
from __future__ import annotations

from appliance.sync.convert import varint_bytes

_LEN = 2            # protobuf wire type: length-delimited
_BATCH_FIELD = 2    # SyncRequest.batch
_RECORDS_FIELD = 2  # CdrBatch.records


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, bad varint, unknown wire type)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes, start: int, end: int):
    """(field number, wire type, value start, value end) of each field in data[start:end]."""
    pos = start
    while pos < end:
        tag, pos = _varint(data, pos)
        wire_type = tag & 7
        if wire_type == 0:
            value_start = pos
            _, pos = _varint(data, pos)
        elif wire_type == _LEN:
            length, value_start = _varint(data, pos)
            pos = value_start + length
        elif wire_type == 1:
            value_start, pos = pos, pos + 8
        elif wire_type == 5:
            value_start, pos = pos, pos + 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise WireError("field runs past the end of its message")
        yield tag >> 3, wire_type, value_start, pos


def batch_record_bytes(request: bytes) -> list[bytes]:
    """The wire bytes of every CallRecord of a SyncRequest's batch, in order.

    Follows protobuf's merge rules: a batch field that occurs several times contributes the records of
    each occurrence. The caller compares the count with what the parser saw before trusting the slices.
    """
    out: list[bytes] = []
    for number, wire_type, start, end in _fields(request, 0, len(request)):
        if number == _BATCH_FIELD and wire_type == _LEN and not _records_fast(request, start, end, out):
            for inner, inner_type, value_start, value_end in _fields(request, start, end):
                if inner == _RECORDS_FIELD and inner_type == _LEN:
                    out.append(request[value_start:value_end])
    return out


def _records_fast(data: bytes, start: int, end: int, out: list[bytes]) -> bool:
    """The layout every protobuf encoder writes (batch_id, then only records): slice without the general
    walk. False (and out unchanged) for any other layout."""
    mark = len(out)
    pos = start
    if pos < end and data[pos] == 0x08:                 # batch_id
        _, pos = _varint(data, pos + 1)
    append = out.append
    while pos < end and data[pos] == 0x12:              # records
        low = data[pos + 1] if pos + 1 < end else 0x80
        if low < 0x80:                                  # length < 128: one varint byte
            value_start = pos + 2
            pos = value_start + low
        elif pos + 2 < end and data[pos + 2] < 0x80:    # length < 16384: two bytes (typical records)
            value_start = pos + 3
            pos = value_start + ((low & 0x7F) | (data[pos + 2] << 7))
        else:
            length, value_start = _varint(data, pos + 1)
            pos = value_start + length
        append(data[value_start:pos])
    if pos == end:
        return True
    del out[mark:]
    return False


_STATUS_TAIL = {True: b"\x10\x01", False: b"\x10\x02"}     # RecordAck.status: STORED (1) / DUPLICATE (2)


def acks_response_bytes(batch_id: int, keys, is_new) -> bytes:
    """A serialized SyncResponse whose acks are all STORED or DUPLICATE (no reasons): what upb would write,
    without building a message per ack (the common response; one with rejections goes through upb)."""
    parts = [b"\x08" + varint_bytes(batch_id)] if batch_id else []
    append = parts.append
    for key, new in zip(keys, is_new):
        encoded = key.encode()
        size = len(encoded)
        if not size:                        # proto3 leaves an empty string out
            append(b"\x12\x02")
        elif size + 4 < 128:
            append(bytes((0x12, size + 4, 0x0A, size)))
        else:
            inner = b"\x0a" + varint_bytes(size)
            append(b"\x12" + varint_bytes(len(inner) + size + 2) + inner)
        append(encoded)
        append(_STATUS_TAIL[new])
    return b"".join(parts)
