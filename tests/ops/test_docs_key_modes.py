"""The docs state one mode for the site's private key, the one `appliance pki init` writes and
`appliance config check` / the self-test accept."""
from __future__ import annotations

import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path

from appliance.ops.credentials import check_client_credentials
from appliance.ops.pki import init_pki

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "docs" / "central-protocol.md", REPO / "config" / "appliance.example.toml"]
# "`site.key` 0600", "keys 0600", "the key 0600", "private key (0600", "chmod 0600 site.key"
KEY_MODE = re.compile(r"(?:\.key`?|\bkeys?|private key)\W{0,3}(0[0-7]{3})\b|chmod (0[0-7]{3}) \S*key", re.I)


def stated_key_modes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in DOCS:
        text = " ".join(path.read_text().split())        # sentences wrapped over lines
        for m in KEY_MODE.finditer(text):
            found.setdefault(m.group(1) or m.group(2), set()).add(path.name)
    return found


def test_every_key_mode_in_the_docs_is_the_one_pki_init_writes_and_the_checks_accept(tmp_path):
    paths = init_pki(tmp_path / "pki", "site-a")
    written = f"{stat.S_IMODE(os.stat(paths.site.key).st_mode):04o}"
    stated = stated_key_modes()
    assert set(stated) == {written}, stated
    assert {"README.md", "central-protocol.md", "appliance.example.toml"} <= stated[written]

    def refused(mode: int) -> bool:
        os.chmod(paths.site.key, mode)
        report = check_client_credentials(ca_file=str(paths.ca.cert), cert_file=str(paths.site.cert),
                                          key_file=str(paths.site.key), site_id="site-a",
                                          now=datetime.now(timezone.utc))
        return bool(report.fatal)

    assert not refused(int(written, 8))
    assert refused(0o640)                 # what the README once said for site.key
