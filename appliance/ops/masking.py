"""Mask phone numbers for logs: keep the last 4 digits. Stored records and record keys are never masked."""
from __future__ import annotations

import re

# A run of 6+ digits (spaces, hyphens and a leading + allowed inside) that stands on its own. Digits
# glued to letters, digits, '/', '.', '-' or '_' belong to something else: a record key
# ("site-a/pbx1/20260405T093000-3f2a...", "site-a/line1/5d1f..."), a path, an address, a date.
_NUMBER = re.compile(r"(?<![\w/.\-])\+?\d[\d\-\s]{4,}\d(?![\w/.\-])")


def mask_number(number: str) -> str:
    """"+15551234567" -> "+*******4567"; short numbers (extensions) are left as they are."""
    digits = sum(ch.isdigit() for ch in number)
    if digits <= 4:
        return number
    keep = 4
    out = []
    for ch in reversed(number):
        if ch.isdigit():
            out.append(ch if keep > 0 else "*")
            keep -= 1
        else:
            out.append(ch)
    return "".join(reversed(out))


def mask_text(text: str) -> str:
    """Mask every phone-number-looking run in free text (for log lines that quote raw data)."""
    return _NUMBER.sub(lambda m: mask_number(m.group(0)), text)
