"""Mask phone numbers for logs: keep the last 4 digits. Stored records are never masked."""
from __future__ import annotations

import re

_NUMBER = re.compile(r"\+?\d[\d\-\s]{4,}\d")


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
