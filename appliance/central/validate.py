"""Which records of a batch the central can never accept, and why: a whole-batch fast path, a per-record answer."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from appliance.v1 import cdr_pb2

MAX_KEY_LENGTH = 256
POLICY_REJECT_REASON = "rejected by policy"

_DIRECTIONS = frozenset(v for v in cdr_pb2.Direction.values() if v != cdr_pb2.DIRECTION_UNSPECIFIED)
_DISPOSITIONS = frozenset(v for v in cdr_pb2.Disposition.values() if v != cdr_pb2.DISPOSITION_UNSPECIFIED)
_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
_RFC3339 = re.compile(_TIME, re.ASCII)
# A batch's times are checked by their shape: ASCII digits become "0", then every distinct shape must be
# a valid time's. Sites write one format, so this is usually one comparison for the whole batch.
_SHAPE = bytes.maketrans(b"123456789", b"000000000")
_SHAPES = frozenset(
    f"0000-00-00T00:00:00{fraction}{zone}".encode()
    for fraction in ["", *("." + "0" * digits for digits in range(1, 10))]
    for zone in ("Z", "+00:00", "-00:00"))

# The fields validation reads, fetched by one C-level call per record.
_FIELDS = attrgetter("key", "site_id", "direction", "disposition", "started_at", "answered_at", "ended_at")


@dataclass(frozen=True)
class CentralPolicy:
    """Test and demo aids: refuse some keys on purpose, or ack slowly to exercise a site's backpressure."""
    reject_keys_matching: re.Pattern[str] | None = None
    ack_delay_s: float = 0.0


def validate_record(rec: cdr_pb2.CallRecord, site_id: str, policy: CentralPolicy) -> str:
    """Why this record can never be accepted as sent ("" when it is fine)."""
    return _reason(_FIELDS(rec), site_id, policy)


def _reason(fields: tuple, site_id: str, policy: CentralPolicy) -> str:
    key, rec_site, direction, disposition, started_at, answered_at, ended_at = fields
    if not key:
        return "empty key"
    if len(key) > MAX_KEY_LENGTH:
        return f"key longer than {MAX_KEY_LENGTH} characters"
    if rec_site != site_id:
        return "empty site_id" if not rec_site else "site_id mismatch"
    if direction not in _DIRECTIONS:
        return f"unknown direction {direction}"
    if disposition not in _DISPOSITIONS:
        return f"unknown disposition {disposition}"
    if not _RFC3339.fullmatch(started_at):
        return "started_at is not an RFC 3339 time"
    if answered_at and not _RFC3339.fullmatch(answered_at):
        return "answered_at is not an RFC 3339 time"
    if ended_at and not _RFC3339.fullmatch(ended_at):
        return "ended_at is not an RFC 3339 time"
    if policy.reject_keys_matching is not None and policy.reject_keys_matching.search(key):
        return POLICY_REJECT_REASON
    return ""


def _all_times(times: Sequence[str], optional: bool) -> bool:
    """Every time valid (or empty, when optional)? Whole-batch shape check; False sends the batch to
    the per-record answer."""
    shapes = "\n".join(times).encode().translate(_SHAPE)
    first = shapes[:shapes.find(b"\n")] if len(times) > 1 else shapes
    if first in _SHAPES and shapes == b"\n".join([first] * len(times)):
        return True                     # one shape for the whole batch
    distinct = set(shapes.split(b"\n"))
    if optional:
        distinct.discard(b"")
    # The count rules out a field that itself holds a newline.
    return shapes.count(b"\n") == len(times) - 1 and distinct <= _SHAPES


@dataclass(frozen=True)
class BatchVerdict:
    """keys and started_at of every record; reasons is None when all are valid, else one per record."""
    keys: Sequence[str]
    started_at: Sequence[str]
    reasons: list[str] | None


def validate_batch(records: Sequence[cdr_pb2.CallRecord], site_id: str, policy: CentralPolicy) -> BatchVerdict:
    """Check a whole batch with a few set and regex operations; only a batch with a bad record (or a
    policy) pays for the per-record answer, which is the authority on reasons."""
    if not records:
        return BatchVerdict((), (), None)
    rows = list(map(_FIELDS, records))
    keys, sites, directions, dispositions, started, answered, ended = zip(*rows)
    fine = (policy.reject_keys_matching is None
            and all(keys) and max(map(len, keys)) <= MAX_KEY_LENGTH
            and len(set(sites)) == 1 and sites[0] == site_id
            and _DIRECTIONS.issuperset(directions) and _DISPOSITIONS.issuperset(dispositions)
            and _all_times(started, False) and _all_times(answered, True) and _all_times(ended, True))
    if fine:
        return BatchVerdict(keys, started, None)
    return BatchVerdict(keys, started, [_reason(row, site_id, policy) for row in rows])
