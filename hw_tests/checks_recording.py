"""recording: a valid recipient, a writable recordings directory within quota and reserve, nothing left unsent."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Callable

from appliance.audio.settings import RecordingConfig

from .checks_storage import human_age
from .result import CheckResult, Finding, Status, combine, failed

UNSENT_WARN_S = 86400.0


def check_recording(cfg: RecordingConfig, data_dir: str, *, now: Callable[[], float] = time.time) -> CheckResult:
    name = "recording"
    if not cfg.enabled:
        return combine(name, [Finding(Status.SKIP, "recording is off ([recording] enabled = false)")])
    from appliance.audio.age_keys import Recipient
    try:
        recipients = cfg.recipient_list()
    except OSError as exc:
        return failed(name, f"recipients_file {cfg.recipients_file} unreadable ({exc.strerror or exc})",
                      "the daemon's user must be able to read it (mode 0644 is fine: recipients are public)")
    bad = []
    for text in recipients:
        try:
            Recipient.parse(text)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the same finding
            bad.append(f"{text[:12]}... ({exc})")
    if not recipients or bad:
        what = "no recipient configured" if not recipients else f"invalid recipient {bad[0]}"
        return failed(name, f"{what}: calls are NOT recorded (fail closed)",
                      "put the central's age recipient (`appliance keys generate` on the central prints it) "
                      "in [recording] recipients or recipients_file")
    findings = [Finding(Status.PASS, f"{len(recipients)} recipient(s)")]
    directory = Path(data_dir) / "recordings"
    from appliance.audio.space import RecordingSpace
    ok, why = RecordingSpace(directory, cfg.quota_mb, cfg.reserve_mb).can_start()
    if not ok:
        findings.append(Finding(Status.FAIL, f"new recordings are refused: {why}",
                                "free disk space, raise quota_mb, or check that recordings reach the central "
                                "(they are deleted here once it has them)"))
    if directory.exists() and not os.access(directory, os.W_OK):
        findings.append(Finding(Status.FAIL, f"{directory} is not writable",
                                "the data dir belongs to the daemon's user: chown -R appliance: it"))
    files = [p for p in directory.glob("*.age")] if directory.exists() else []
    kept = _uploaded_but_kept(Path(data_dir) / "appliance.db")
    if kept:
        files = [p for p in files if p.name not in kept]
        findings.append(Finding(Status.PASS, f"{len(kept)} segment(s) uploaded, local copy kept until deleted "
                                             f"(keep_after_upload_s = {cfg.keep_after_upload_s:g})"))
    if files:
        oldest = min(p.stat().st_mtime for p in files)
        age = max(0.0, now() - oldest)
        text = f"{len(files)} segment(s) not yet uploaded, oldest {human_age(age)} old"
        findings.append(Finding(Status.WARN if age > UNSENT_WARN_S else Status.PASS, text,
                                "recordings wait for the central: check the central checks above"
                                if age > UNSENT_WARN_S else ""))
    else:
        findings.append(Finding(Status.PASS, "no recording waiting to be uploaded"))
    return combine(name, findings)


def _uploaded_but_kept(db: Path) -> set[str]:
    """Segments the central has that are still kept locally (none when the store cannot be read)."""
    if not db.exists():
        return set()
    from appliance.store.files import connect_read_only
    from appliance.store.uploads import uploaded_but_kept
    try:
        conn = connect_read_only(db, 5.0)
    except Exception:  # noqa: BLE001 - the store check reports an unreadable store; here: count every file
        return set()
    try:
        return uploaded_but_kept(conn)
    except sqlite3.Error:
        return set()
    finally:
        conn.close()
