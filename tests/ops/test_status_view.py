"""`appliance status` as a technician reads it on an 80-column terminal: nothing cut, problems say what to do."""
from __future__ import annotations

import io

from rich.console import Console

from appliance.ops.status_view import render_status

LONG = "/var/lib/appliance/serial/by-id/usb-Quectel_EC25-if02-port0"


def shown(st: dict) -> str:
    out = io.StringIO()
    render_status(st, Console(file=out, width=80, color_system=None))
    return out.getvalue()


def status(**extra) -> dict:
    device = {"name": "gsm-reception-desk", "kind": "gsm", "target": LONG, "state": "DOWN", "for_s": 12.0,
              "last_event_age_s": None, "errors": 3, "last_error": "DeviceGone: read failed (EIO): unplugged"}
    return {"site_id": "s", "uptime_s": 60, "calls_in_progress": 0, "records_durable": 5, "protocol_errors": 0,
            "devices": [device], **extra}


def column(text: str, index: int) -> str:
    """One column of the devices table's body, its wrapped lines joined back (spaces left out)."""
    cells = [line.split("│")[index + 1] for line in text.splitlines() if line.startswith("│")]
    return "".join("".join(cell.split()) for cell in cells)


def test_long_ports_and_names_wrap_instead_of_being_cut():
    text = shown(status())
    assert "…" not in text
    assert column(text, 0) == "gsm-reception-desk"
    assert column(text, 2) == LONG
    assert column(text, 7) == "DeviceGone:readfailed(EIO):unplugged"    # the whole error, spaces aside


def test_refused_recordings_say_how_to_offer_them_again():
    text = shown(status(uploads={"backlog_segments": 0, "backlog_bytes": 0, "uploaded": 4, "rejected": 1,
                                 "missing": 0, "last_problem": "sha256 mismatch"}))
    assert "1 rejected" in text and "appliance recording reoffer" in " ".join(text.split())
