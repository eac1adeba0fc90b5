"""After a crash: a call that was being recorded becomes an interrupted record with a truncated recording."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from appliance.audio.segment_meta import PART_SUFFIX, inspect
from appliance.audio.segments import open_segments_after_crash, segment_name
from appliance.calls.record import CallRecord, Recording, RecordingSegment
from appliance.common.files import replace_durably
from appliance.common.time import iso_utc

REASON = "the appliance stopped during the call (crash, power cut or restart): the cut segment ends at its last whole chunk"


def interrupted_record(record: CallRecord, saved_at: float, directory: Path) -> CallRecord:
    """The record kept when the recording began, finished as interrupted: ended at the last moment
    known (the newest segment's last write), recording "truncated" with every segment found.

    A segment the crash cut (`.part`) is renamed without the suffix so it can be uploaded; its
    RecordingSegment says complete=False and the central's `recording salvage` decrypts the whole
    chunks before the cut.
    """
    directory = Path(directory)
    segments = []
    last = saved_at
    index = 0
    while True:
        name = segment_name(record.key, index)
        path = directory / name
        if path.exists():
            info = inspect(path)
            segments.append(RecordingSegment(index, name, info.sha256, info.size, info.meta.first_sample,
                                             info.recoverable_samples, True))
            last = max(last, path.stat().st_mtime)
            index += 1
            continue
        break
    for cut in open_segments_after_crash(directory, record.key):
        part = directory / (segment_name(record.key, cut.index) + PART_SUFFIX)
        final = directory / segment_name(record.key, cut.index).replace(".age", ".cut.age")
        if part.exists():
            last = max(last, part.stat().st_mtime)
            replace_durably(part, final)
        segments.append(dataclasses.replace(cut, name=final.name, complete=False))
    recording = Recording(status="truncated", reason=REASON, segments=tuple(segments),
                          sample_rate=(record.recording.sample_rate if record.recording else 0))
    return dataclasses.replace(record, interrupted=True, ended_at=iso_utc(last), recording=recording)
