"""Config: the example is valid, and every kind of mistake is a clear start-up error."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config import ConfigError, load_config, masked_dict, parse_config, to_toml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "appliance.example.toml"

MINIMAL = '''
[site]
id = "site-1"
[[pbx]]
name = "pbx1"
format = "avaya-ipo"
listen = "127.0.0.1:1150"
'''


def test_shipped_example_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.site.id == "site-042"
    assert [d.name for d in cfg.devices] == ["pbx1", "pbx2", "line1", "hs-anna", "wb-floor1"]
    assert cfg.central.endpoints[0].endswith(":7443")


def test_minimal_config_gets_documented_defaults():
    cfg = parse_config(MINIMAL)
    assert cfg.site.data_dir == "/var/lib/appliance"
    assert cfg.pbx[0].reconnect_delay_max == 30.0
    assert cfg.central.plaintext is False


@pytest.mark.parametrize("text, expected", [
    (MINIMAL + 'colour = "red"\n', "pbx[0]: unknown key 'colour'"),
    (MINIMAL.replace('id = "site-1"', 'id = 42'), "site.id: expected a string"),
    (MINIMAL.replace('listen = "127.0.0.1:1150"', ''), "pbx[0].listen: missing"),
    (MINIMAL.replace('listen = "127.0.0.1:1150"', 'listen = "nowhere"'), "pbx[0].listen: expected HOST:PORT"),
    (MINIMAL + '[[line]]\nname = "pbx1"\nport = "/dev/x"\n', "line[0].name: duplicate device name 'pbx1'"),
    (MINIMAL + '[[line]]\nname = "l1"\n', "line[0].port: missing"),
    (MINIMAL + '[[line]]\nname = "l1"\nport = "/dev/x"\nkind = "fax"\n', "line[0].kind: expected one of"),
    (MINIMAL + '[[line]]\nname = "l1"\nport = "/dev/x"\nbaudrate = "fast"\n', "line[0].baudrate: expected an integer"),
    (MINIMAL + '[central]\nendpoints = ["10.0.0.5:7443"]\nplaintext = true\n', "central.plaintext: only allowed"),
    (MINIMAL + '[central]\nendpoints = ["c.example:7443"]\n', "central.ca_file: missing"),
    ('[site]\nid = "s"\ntimezone = "Mars/Olympus"\n', "site.timezone: unknown time zone"),
    ('[site\nid = "s"', "not valid TOML"),
])
def test_mistakes_name_file_and_key(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/appliance/appliance.toml")
    message = str(info.value)
    assert message.startswith("/etc/appliance/appliance.toml: ")
    assert expected in message


def test_plaintext_allowed_on_loopback_only():
    cfg = parse_config(MINIMAL + '[central]\nendpoints = ["127.0.0.1:7443", "localhost:7444"]\nplaintext = true\n')
    assert cfg.central.plaintext


def test_show_masks_secrets_and_round_trips():
    cfg = parse_config(MINIMAL + '[[line]]\nname = "l1"\nport = "/dev/x"\nsim_pin = "4321"\n')
    shown = to_toml(masked_dict(cfg))
    assert "4321" not in shown
    assert 'sim_pin = "********"' in shown
    again = parse_config(shown.replace('"********"', '""'))
    assert again.line[0].port == "/dev/x" and again.pbx[0].listen == "127.0.0.1:1150"


def test_cli_check_exit_codes(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL)
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL + "oops = 1\n")
    ok = subprocess.run([sys.executable, "-m", "appliance", "config", "check", str(good)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    fail = subprocess.run([sys.executable, "-m", "appliance", "config", "check", str(bad)],
                          capture_output=True, text=True)
    assert fail.returncode == 2
    assert "unknown key 'oops'" in fail.stderr and str(bad) in fail.stderr


def test_the_example_documents_every_key_of_every_table():
    """Config is the one source of truth: every tunable of every table is in the shipped example."""
    import dataclasses
    from firmware_bridge.registry import KINDS

    from appliance.config.schema import Config
    text = EXAMPLE.read_text()
    tables = {f.name: f.type for f in dataclasses.fields(Config) if f.name not in ("devices", "source_path")}
    classes = [getattr(load_config(EXAMPLE), name).__class__ for name in tables if name != "queue"]
    classes += [type(load_config(EXAMPLE).queue[0])] + list({k.load("settings") for k in KINDS.values()})
    missing = []
    for cls in classes:
        for f in dataclasses.fields(cls):
            if not re.search(rf"^\s*#?\s*{f.name}\s*=", text, re.M):
                missing.append(f"{cls.__name__}.{f.name}")
    assert missing == []
