"""The systemd units and udev rules, checked by systemd's own tools where they exist and by a strict rules parser."""
from __future__ import annotations

import fnmatch
import glob
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
UNITS = ["appliance.service", "appliance-selftest.service", "appliance-selftest.timer"]
RULES = SYSTEMD / "60-appliance.rules"
INSTALLED_EXEC = "/opt/appliance/venv/bin/appliance"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


# --- unit files -------------------------------------------------------------------------------

def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) in order; keys may repeat, as in systemd."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"{key}= in [{section}]: expected once, found {found}"
    return found[0]


def verify_output(paths: list[Path]) -> str:
    """Everything `systemd-analyze verify` says. It exits 0 on unknown keys and unparsable values
    (it only prints 'ignoring'), so a clean unit is one it has nothing to say about."""
    done = subprocess.run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True, timeout=60)
    return (done.stdout + done.stderr).strip() + ("" if done.returncode == 0 else f"\n(exit {done.returncode})")


def runnable_copies(tmp_path: Path) -> list[Path]:
    """The units as shipped, except that ExecStart='s program (which only exists once installed)
    is /bin/true. Everything else, /bin/sh in ExecReload= included, is verified as is."""
    out = []
    for name in UNITS:
        text = (SYSTEMD / name).read_text()
        if name.endswith(".service"):
            assert f"ExecStart={INSTALLED_EXEC} " in text
            text = text.replace(f"ExecStart={INSTALLED_EXEC} ", "ExecStart=/bin/true ")
        (tmp_path / name).write_text(text)
        out.append(tmp_path / name)
    return out


@needs_analyze
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path):
    assert verify_output(runnable_copies(tmp_path)) == ""


@needs_analyze
@pytest.mark.parametrize(
    "old, new",
    [("WatchdogSec=30", "WatchdogSecs=30"), ("Restart=on-failure", "Restart=sometimes"),
     ("ProtectSystem=strict", "ProtectSystem=stric"), ("ExecReload=/bin/sh ", "ExecReload=/bin/shh ")],
)
def test_verify_check_fails_on_a_broken_unit(tmp_path, old, new):
    paths = runnable_copies(tmp_path)
    service = tmp_path / "appliance.service"
    service.write_text(service.read_text().replace(old, new))
    assert verify_output(paths) != ""


@needs_analyze
@pytest.mark.parametrize("name", ["appliance.service", "appliance-selftest.service"])
def test_security_exposure_is_at_most_2_0(name):
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(SYSTEMD / name)],
        capture_output=True, text=True, timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert level, done.stdout + done.stderr
    assert float(level.group(1)) <= 2.0 and done.returncode == 0, done.stdout


def test_daemon_supervision_settings():
    unit = read_unit(SYSTEMD / "appliance.service")
    expected = {
        ("Service", "Type"): "notify",
        ("Service", "NotifyAccess"): "main",
        ("Service", "ExecStart"): f"{INSTALLED_EXEC} run --config /etc/appliance/appliance.toml",
        ("Service", "ExecReload"): """/bin/sh -c 'kill -HUP "$$MAINPID"'""",
        ("Service", "WatchdogSec"): "30",
        ("Service", "Restart"): "on-failure",
        ("Service", "RestartSec"): "5",
        ("Service", "RestartPreventExitStatus"): "2",
        ("Service", "TimeoutStopSec"): "30",
        ("Service", "User"): "appliance",
        ("Service", "Group"): "appliance",
        ("Service", "SupplementaryGroups"): "dialout audio",
        ("Service", "StateDirectory"): "appliance",
        ("Service", "StateDirectoryMode"): "0700",
        ("Service", "ConfigurationDirectory"): "appliance",
        ("Service", "LogsDirectory"): "appliance",
        ("Service", "RuntimeDirectory"): "appliance",
        ("Service", "RuntimeDirectoryMode"): "0750",
        ("Service", "UMask"): "0077",
        ("Service", "ProcSubset"): "pid",
        ("Service", "MemoryDenyWriteExecute"): "yes",
        ("Install", "WantedBy"): "multi-user.target",
    }
    assert {key: one(unit, *key) for key in expected} == expected
    # Restart limits live in [Unit] since systemd 230; in [Service] they would be ignored.
    assert int(one(unit, "Unit", "StartLimitBurst")) > 1
    assert int(one(unit, "Unit", "StartLimitIntervalSec")) > 0
    assert not values(unit, "Service", "IPAddressDeny")


def systemd_argv(command: str) -> list[str]:
    """An Exec*= value as systemd hands it to execve(): words split with quotes (systemd.syntax(7)),
    then "$$" -> "$" in each word. (No $VAR of ours is left for systemd to substitute.)"""
    import shlex
    words = shlex.split(command)
    assert not any(re.search(r"(?<!\$)\$(?!\$)", w.replace("$$", "")) for w in words), words
    return [w.replace("$$", "$") for w in words]


def test_reload_signals_the_real_daemon_without_procps(tmp_path):
    """ExecReload= as systemd runs it (MAINPID in the environment), with no kill program on PATH
    (a minimal Debian has no procps): the running daemon gets SIGHUP and reloads."""
    from tests.helpers.daemon_proc import DaemonProcess
    from tests.helpers.waiting import wait_for
    argv = systemd_argv(one(read_unit(SYSTEMD / "appliance.service"), "Service", "ExecReload"))
    assert Path(argv[0]).is_absolute() and shutil.which(argv[0]), argv      # systemd needs a path
    config = tmp_path / "appliance.toml"
    config.write_text(f'[site]\nid = "site-reload"\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[control]\nsocket = "{tmp_path / "control.sock"}"\n[metrics]\nlisten = ""\n')
    with DaemonProcess(config) as daemon:
        daemon.start()
        config.write_text(config.read_text() + '[log]\nlevel = "debug"\n')
        done = subprocess.run(argv, env={"MAINPID": str(daemon.proc.pid), "PATH": "/nonexistent"},
                              capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: any("RELOADING=1" in n for n in daemon.notifications), 10,
                 message="the daemon reloading after ExecReload=")
        assert daemon.proc.poll() is None
        assert daemon.terminate() == 0


def test_the_installed_command_is_the_package_console_script():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert Path(INSTALLED_EXEC).name in scripts


@pytest.mark.parametrize("name", ["appliance.service", "appliance-selftest.service"])
def test_devices_are_closed_except_serial_hid_and_audio(name):
    unit = read_unit(SYSTEMD / name)
    assert one(unit, "Service", "DevicePolicy") == "closed"
    assert values(unit, "Service", "PrivateDevices") in ([], ["no"]), "PrivateDevices hides every ttyUSB and hidraw"
    allowed = {tuple(v.split()) for v in values(unit, "Service", "DeviceAllow")}
    # Fixed majors (devices.txt): 188 ttyUSB, 166 ttyACM, 116 alsa; hidraw is dynamic, so by name.
    assert allowed == {("char-188", "rw"), ("char-166", "rw"), ("char-116", "rw"), ("char-hidraw", "rw")}
    # Where this kernel has those drivers loaded, the numbers must agree with it.
    known = {"ttyUSB": "188", "ttyACM": "166", "alsa": "116"}
    for line in Path("/proc/devices").read_text().split("Block devices:")[0].splitlines():
        major, _, group = line.strip().partition(" ")
        if group in known:
            assert major == known[group], f"{group} is major {major} on this kernel"


def test_selftest_runs_daily_and_leaves_the_daemons_runtime_directory_alone():
    service = read_unit(SYSTEMD / "appliance-selftest.service")
    timer = read_unit(SYSTEMD / "appliance-selftest.timer")
    assert one(service, "Service", "Type") == "oneshot"
    assert one(service, "Service", "ExecStart") == f"{INSTALLED_EXEC} selftest --config /etc/appliance/appliance.toml"
    assert one(service, "Service", "User") == "appliance"
    # A unit deletes its RuntimeDirectory= when it stops: it would take the daemon's control socket.
    assert not values(service, "Service", "RuntimeDirectory")
    assert not values(service, "Install", "WantedBy"), "started by the timer only"
    assert values(timer, "Timer", "Unit") in ([], ["appliance-selftest.service"])
    assert re.fullmatch(r"(daily|\*-\*-\* \d\d:\d\d(:\d\d)?)", one(timer, "Timer", "OnCalendar"))
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Timer", "RandomizedDelaySec")
    assert one(timer, "Install", "WantedBy") == "timers.target"


# Under MemoryDenyWriteExecute=yes systemd refuses write+execute memory. Linux >= 6.3 applies the
# same rule to one process with prctl(PR_SET_MDWE), so the daemon's native dependencies can be
# exercised under it here.
MDWE_PROBE = r"""
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:          # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    print("NO_MDWE"); sys.exit(0)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    print("MDWE_NOT_ENFORCED"); sys.exit(1)
except OSError:
    pass

def grpc_round_trip():
    import asyncio
    from grpc import aio
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    import appliance.v1.sync_pb2_grpc, appliance.v1.cdr_pb2  # generated stubs
    async def go():
        server = aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        await server.stop(None)
    asyncio.run(go())

def crypto():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    key = AESGCM.generate_key(bit_length=256)
    assert AESGCM(key).decrypt(b"n" * 12, AESGCM(key).encrypt(b"n" * 12, b"pcm", None), None) == b"pcm"
    ec.generate_private_key(ec.SECP256R1()).sign(b"cdr", ec.ECDSA(hashes.SHA256()))

def ctypes_callback():
    assert ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)(41) == 42

def audio():
    import pyaudio, webrtcvad
    webrtcvad.Vad(2).is_speech(b"\0" * 320, 16000)

def store_and_self():
    import os, sqlite3, psutil, serial, sqlite_utils, prometheus_client, rich.console
    sqlite3.connect(":memory:").execute("select 1")
    psutil.Process(os.getpid()).memory_info()

failed = []
for check in (grpc_round_trip, crypto, ctypes_callback, audio, store_and_self):
    try:
        check()
    except BaseException as exc:
        failed.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
print("FAILED " + " | ".join(failed) if failed else "ALL_OK")
"""


def test_runtime_dependencies_work_without_write_execute_memory():
    done = subprocess.run([sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True, timeout=60, cwd=REPO)
    if "NO_MDWE" in done.stdout:
        pytest.skip("kernel without PR_SET_MDWE (Linux < 6.3)")
    assert done.stdout.strip().endswith("ALL_OK"), done.stdout + done.stderr


# --- udev rules: a strict parser (udevadm verify needs systemd >= 254) --------------------------

MATCH_ONLY = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER", "DRIVERS",
              "ATTRS", "TAGS", "CONST", "TEST", "PROGRAM", "RESULT"}
MATCH_AND_ASSIGN = {"NAME", "SYMLINK", "ENV", "ATTR", "SYSCTL", "TAG"}
ASSIGN_ONLY = {"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS"}
NEEDS_ATTR = {"ATTRS", "CONST", "ENV", "ATTR", "SYSCTL", "SECLABEL", "IMPORT"}
MAY_HAVE_ATTR = NEEDS_ATTR | {"TEST", "RUN"}
SINGLE_VALUE = {"OWNER", "GROUP", "MODE", "LABEL", "GOTO", "NAME"}  # no += / -=
IMPORT_TYPES = {"program", "builtin", "file", "db", "cmdline", "parent"}

_PAIR = re.compile(r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^{}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*')


@dataclass(frozen=True)
class Pair:
    key: str
    attr: str | None
    op: str
    value: str

    @property
    def is_match(self) -> bool:
        return self.op in ("==", "!=")


@dataclass(frozen=True)
class Rule:
    line: int
    pairs: tuple[Pair, ...]


def parse_rules(text: str) -> tuple[list[Rule], list[str]]:
    """Every rule as KEY{attr} OP "value" pairs, plus every error found, with line numbers."""
    rules, errors = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, line = i + 1, lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            m = _PAIR.match(line, pos)
            if not m:
                errors.append(f"line {start}: cannot parse from {line[pos:pos + 30]!r}")
                break
            pairs.append(Pair(m["key"], m["attr"], m["op"], m["value"]))
            pos = m.end()
            if pos < len(line):
                if line[pos] != ",":
                    errors.append(f"line {start}: expected ',' before {line[pos:pos + 30]!r}")
                    break
                pos += 1
                if not line[pos:].strip():
                    errors.append(f"line {start}: trailing ','")
        for p in pairs:
            errors.extend(f"line {start}: {e}" for e in _pair_errors(p))
        rules.append(Rule(start, tuple(pairs)))
    labels = {p.value for r in rules for p in r.pairs if p.key == "LABEL"}
    for r in rules:
        for p in r.pairs:
            if p.key == "GOTO" and p.value not in labels:
                errors.append(f"line {r.line}: GOTO {p.value!r} has no LABEL")
    return rules, errors


def _pair_errors(p: Pair) -> list[str]:
    if p.key not in MATCH_ONLY | MATCH_AND_ASSIGN | ASSIGN_ONLY:
        return [f"unknown key {p.key}"]
    errs = []
    if p.key in NEEDS_ATTR and not p.attr:
        errs.append(f"{p.key} needs {{attribute}}")
    if p.attr is not None and p.key not in MAY_HAVE_ATTR:
        errs.append(f"{p.key} takes no {{attribute}}")
    if p.is_match and p.key in ASSIGN_ONLY:
        errs.append(f"{p.key} cannot be matched ({p.op})")
    if not p.is_match and p.key in MATCH_ONLY:
        errs.append(f"{p.key} cannot be assigned ({p.op})")
    if p.op in ("+=", "-=") and p.key in SINGLE_VALUE:
        errs.append(f"{p.key} holds one value; {p.op} makes no sense")
    if p.key in ("LABEL", "GOTO") and p.op != "=":
        errs.append(f"{p.key} takes '='")
    if p.key == "IMPORT" and p.attr not in IMPORT_TYPES:
        errs.append(f"IMPORT{{{p.attr}}}: unknown import type")
    if p.key == "MODE" and not re.fullmatch(r"0?[0-7]{3}", p.value):
        errs.append(f"MODE {p.value!r} is not octal")
    return errs


def test_rules_file_parses_without_errors():
    rules, errors = parse_rules(RULES.read_text())
    assert errors == []
    assert len(rules) >= 10


@pytest.mark.parametrize(
    "bad",
    [
        'SUBSYSTEM=="tty", SYMLINK+="appliance/x',                      # unterminated quote
        'SUBSYSTEM=="tty" SYMLINK+="appliance/x"',                      # missing comma
        'SUBSYSTEM=="tty", SYMLNK+="appliance/x"',                      # unknown key
        'SUBSYSTEM=="tty", GROUP=="dialout"',                           # matching an assign-only key
        'ATTRS{idVendor}="0403", MODE="0660"',                          # assigning a match-only key
        'SUBSYSTEM=="tty", ENV="1"',                                    # ENV without {name}
        'SUBSYSTEM=="tty", MODE="rw-rw----"',                           # not octal
        'SUBSYSTEM=="tty", GROUP+="dialout"',                           # GROUP is single-valued
        'SUBSYSTEM=="tty", IMPORT{builtn}="usb_id"',                    # unknown import type
        'ACTION=="remove", GOTO="nowhere"',                             # GOTO without LABEL
        'SUBSYSTEM=="tty", MODE=0660',                                  # unquoted value
        'SUBSYSTEM=="tty", MODE="0660",',                               # trailing comma
        'SUBSYSTEM=="tty", KERNEL{x}=="ttyUSB0"',                       # attribute on a plain key
    ],
)
def test_parser_rejects_broken_rules(bad):
    assert parse_rules(bad)[1], f"accepted: {bad}"


@pytest.mark.parametrize("path", sorted(set(glob.glob("/usr/lib/udev/rules.d/*.rules") + glob.glob("/lib/udev/rules.d/*.rules"))))
def test_parser_accepts_the_systems_own_rules(path):
    """The parser is no stricter than udev: the rules shipped with this system pass it."""
    assert parse_rules(Path(path).read_text())[1] == []


@pytest.mark.skipif(shutil.which("udevadm") is None, reason="udevadm not installed")
def test_udevadm_verify_when_available():
    if subprocess.run(["udevadm", "verify", "--help"], capture_output=True).returncode != 0:
        pytest.skip("udevadm verify needs systemd >= 254")
    done = subprocess.run(["udevadm", "verify", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_invariants():
    rules, _ = parse_rules(RULES.read_text())
    pairs = [p for r in rules for p in r.pairs]
    symlinks = [p for p in pairs if p.key == "SYMLINK" and not p.is_match]
    assert symlinks and all(p.op == "+=" and p.value.startswith("appliance/") for p in symlinks)
    for r in rules:
        keys = {p.key: p for p in r.pairs if not p.is_match}
        if "GROUP" in keys or "MODE" in keys:
            assert keys["MODE"].value == "0660" and keys["GROUP"].value in ("dialout", "appliance"), r
            assert "systemd" in [p.value for p in r.pairs if p.key == "TAG"], r
    assert "appliance_end" in {p.value for p in pairs if p.key == "LABEL"}


# --- udev rules: what a technician sees for real devices ----------------------------------------
# A small evaluator of the parsed rules over modelled sysfs trees. It follows udev(7): parent keys
# (KERNELS, SUBSYSTEMS, DRIVERS, ATTRS) of one rule must all match the same device in the chain;
# IMPORT{builtin} supplies only what that builtin reports; GOTO jumps forward to its LABEL.

@dataclass
class Dev:
    subsystem: str
    kernel: str
    attrs: dict[str, str] = field(default_factory=dict)
    devtype: str = ""
    driver: str = ""
    parent: Dev | None = None

    def chain(self) -> list[Dev]:
        out, d = [], self
        while d is not None:
            out.append(d)
            d = d.parent
        return out


@dataclass
class Outcome:
    env: dict[str, str]
    symlinks: set[str] = field(default_factory=set)
    group: str | None = None
    mode: str | None = None
    tags: set[str] = field(default_factory=set)


def _glob(value: str, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(value, alt) for alt in pattern.split("|"))


def _substitute(value: str, env: dict[str, str], dev: Dev) -> str:
    def repl(m: re.Match) -> str:
        if m["env"]:
            return env.get(m["env"], "")
        if m["kernel"]:
            return dev.kernel
        raise AssertionError(f"evaluator does not model substitution {m[0]!r}")
    return re.sub(r"\$env\{(?P<env>\w+)\}|(?P<kernel>\$kernel|%k)|(?P<other>[$%]\S)", repl, value)


def evaluate(rules: list[Rule], dev: Dev, builtins: dict[str, dict[str, str]], action: str = "add") -> Outcome:
    out = Outcome(env={"ACTION": action, "SUBSYSTEM": dev.subsystem, **({"DEVTYPE": dev.devtype} if dev.devtype else {})})
    labels = {p.value: i for i, r in enumerate(rules) for p in r.pairs if p.key == "LABEL"}
    i = 0
    while i < len(rules):
        rule, i = rules[i], i + 1
        if not _matches(rule, dev, out, action):
            continue
        for p in (p for p in rule.pairs if not p.is_match):
            if p.key == "GOTO":
                i = labels[p.value]
            elif p.key == "IMPORT":
                assert p.attr == "builtin", f"evaluator models IMPORT{{builtin}} only, not {p.attr}"
                out.env.update(builtins[p.value])
            elif p.key == "ENV":
                out.env[p.attr] = _substitute(p.value, out.env, dev)
            elif p.key == "SYMLINK":
                out.symlinks.update(_substitute(p.value, out.env, dev).split())
            elif p.key == "TAG":
                out.tags.add(p.value)
            elif p.key in ("GROUP", "MODE"):
                setattr(out, p.key.lower(), p.value)
            elif p.key != "LABEL":
                raise AssertionError(f"evaluator does not model {p.key}")
    return out


def _matches(rule: Rule, dev: Dev, out: Outcome, action: str) -> bool:
    parent_keys = []
    for p in (p for p in rule.pairs if p.is_match):
        if p.key in ("KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS"):
            parent_keys.append(p)
            continue
        actual = {
            "ACTION": action, "SUBSYSTEM": dev.subsystem, "KERNEL": dev.kernel, "DRIVER": dev.driver,
        }.get(p.key)
        if p.key == "ENV":
            actual = out.env.get(p.attr, "")
        elif p.key == "ATTR":
            actual = dev.attrs.get(p.attr)
        elif actual is None:
            raise AssertionError(f"evaluator does not model matching {p.key}")
        if actual is None or _glob(actual, p.value) != (p.op == "=="):
            return False
    if not parent_keys:
        return True
    return any(all(_parent_match(p, d) for p in parent_keys) for d in dev.chain())


def _parent_match(p: Pair, d: Dev) -> bool:
    actual = {"KERNELS": d.kernel, "SUBSYSTEMS": d.subsystem, "DRIVERS": d.driver}.get(p.key)
    if p.key == "ATTRS":
        actual = d.attrs.get(p.attr)
    return actual is not None and _glob(actual, p.value) == (p.op == "==")


def usb_device(vid: str, pid: str, serial: str = "") -> Dev:
    return Dev("usb", "1-2", {"idVendor": vid, "idProduct": pid, **({"serial": serial} if serial else {})},
               devtype="usb_device", driver="usb")


def usb_child(usb: Dev, iface: int, subsystem: str, kernel: str, names=("Vendor", "Model")) -> tuple[Dev, dict]:
    """The node udev sees for one interface of `usb`, and what usb_id / path_id report for it."""
    intf = Dev("usb", f"1-2:1.{iface}", {"bInterfaceNumber": f"{iface:02x}"}, devtype="usb_interface", parent=usb)
    if subsystem == "tty":
        node = Dev("tty", kernel, parent=Dev("usb-serial", kernel, parent=intf))
    else:
        node = Dev("hidraw", kernel, parent=Dev("hid", "0003:0B0E:245E.0001", parent=intf))
    serial = usb.attrs.get("serial", "")
    ident = {
        "ID_BUS": "usb", "ID_VENDOR_ID": usb.attrs["idVendor"], "ID_MODEL_ID": usb.attrs["idProduct"],
        "ID_SERIAL": "_".join([*names, serial] if serial else names), "ID_USB_INTERFACE_NUM": f"{iface:02x}",
        **({"ID_SERIAL_SHORT": serial} if serial else {}),
    }
    return node, {"usb_id": ident, "path_id": {"ID_PATH": f"pci-0000:00:14.0-usb-0:2:1.{iface}"}}


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    parsed, errors = parse_rules(RULES.read_text())
    assert errors == []
    return parsed


def serial_access(out: Outcome) -> tuple:
    return out.group, out.mode, out.env.get("ID_MM_DEVICE_IGNORE"), "systemd" in out.tags


@pytest.mark.parametrize(
    "vid, pid, iface, link",
    [
        ("1e0e", "9001", 2, "appliance/simcom-at"),
        ("1e0e", "9001", 4, "appliance/simcom-audio"),
        ("1e0e", "9011", 4, "appliance/simcom-at"),
        ("1e0e", "9011", 6, "appliance/simcom-audio"),
        ("2c7c", "0125", 2, "appliance/quectel-at"),
        ("2c7c", "0125", 3, "appliance/quectel-modem"),
        ("2c7c", "0296", 2, "appliance/quectel-at"),
        ("1e0e", "9001", 1, None),      # NMEA: ours, but no name
        ("2c7c", "0125", 0, None),      # diagnostics
    ],
)
def test_module_ports_get_stable_names_by_interface(rules, vid, pid, iface, link):
    node, builtins = usb_child(usb_device(vid, pid), iface, "tty", f"ttyUSB{iface}")
    out = evaluate(rules, node, builtins)
    assert out.symlinks == ({link} if link else set())
    assert serial_access(out) == ("dialout", "0660", "1", True)
    assert out.env["APPLIANCE_CLASS"] == "modem"


@pytest.mark.parametrize("vid, pid", [("2c7c", "0125"), ("1e0e", "9001"), ("0403", "6001"), ("067b", "2303"),
                                      ("1a86", "7523"), ("10c4", "ea60")])
def test_modemmanager_is_told_to_ignore_the_whole_usb_device(rules, vid, pid):
    out = evaluate(rules, usb_device(vid, pid), builtins={})
    assert out.env.get("ID_MM_DEVICE_IGNORE") == "1"


@pytest.mark.parametrize("vid, pid", [("0403", "6001"), ("067b", "2303"), ("1a86", "7523"), ("10c4", "ea60")])
def test_usb_serial_adapters_are_ours_but_named_by_the_site(rules, vid, pid):
    node, builtins = usb_child(usb_device(vid, pid, "A502NJ4X"), 0, "tty", "ttyUSB0")
    out = evaluate(rules, node, builtins)
    assert serial_access(out) == ("dialout", "0660", "1", True)
    assert out.env["APPLIANCE_CLASS"] == "usb-serial"
    assert out.symlinks == set()


def test_documented_site_lines_name_adapters_by_serial_or_port(rules):
    """The example lines at the end of 60-appliance.rules, used as a 61-appliance-site.rules."""
    examples = [line.lstrip("# ") for line in RULES.read_text().splitlines() if re.match(r"#\s+SUBSYSTEM==", line)]
    site, errors = parse_rules("\n".join(examples))
    assert len(site) == 2 and errors == []
    both = rules + site

    wallboard, b1 = usb_child(usb_device("0403", "6001", "A502NJ4X"), 0, "tty", "ttyUSB0")
    other_ftdi, b2 = usb_child(usb_device("0403", "6001", "FT9ZZZZZ"), 0, "tty", "ttyUSB1")
    ch340, b3 = usb_child(usb_device("1a86", "7523"), 0, "tty", "ttyUSB2")  # no serial number
    assert evaluate(both, wallboard, b1).symlinks == {"appliance/wallboard-1"}
    assert evaluate(both, other_ftdi, b2).symlinks == set()
    assert evaluate(both, ch340, b3).symlinks == {"appliance/pbx-smdr"}


def test_headset_hidraw_gets_the_appliance_group_and_a_by_id_name(rules):
    node, builtins = usb_child(usb_device("0b0e", "245e", "000123"), 3, "hidraw", "hidraw0",
                               names=("GN_Netcom_A_S", "Jabra_EVOLVE_30_II"))
    out = evaluate(rules, node, builtins)
    assert (out.group, out.mode, "systemd" in out.tags) == ("appliance", "0660", True)
    assert out.symlinks == {"appliance/headset-GN_Netcom_A_S_Jabra_EVOLVE_30_II_000123-if03"}


@pytest.mark.parametrize(
    "vid, pid, subsystem, kernel",
    [("2341", "0043", "tty", "ttyACM0"),     # an Arduino
     ("046d", "c52b", "hidraw", "hidraw1"),  # a Logitech receiver
     ("0403", "6010", "tty", "ttyUSB0")],    # FTDI, but a model we do not claim
)
def test_other_devices_are_left_alone(rules, vid, pid, subsystem, kernel):
    node, builtins = usb_child(usb_device(vid, pid), 0, subsystem, kernel)
    out = evaluate(rules, node, builtins)
    assert (out.symlinks, out.group, out.mode, out.tags) == (set(), None, None, set())
    assert "ID_MM_DEVICE_IGNORE" not in out.env and "APPLIANCE_CLASS" not in out.env


def test_remove_events_are_skipped(rules):
    node, builtins = usb_child(usb_device("1e0e", "9001"), 2, "tty", "ttyUSB2")
    out = evaluate(rules, node, builtins, action="remove")
    assert (out.symlinks, out.group) == (set(), None)


def test_evaluator_holds_parent_keys_to_one_device():
    """Why the rules use usb_id's ENV and not ATTRS: idVendor and bInterfaceNumber sit on different parents."""
    naive, _ = parse_rules('SUBSYSTEM=="tty", ATTRS{idVendor}=="1e0e", ATTRS{bInterfaceNumber}=="02", SYMLINK+="appliance/x"')
    node, builtins = usb_child(usb_device("1e0e", "9001"), 2, "tty", "ttyUSB2")
    assert evaluate(naive, node, builtins).symlinks == set()
    split, _ = parse_rules('SUBSYSTEM=="tty", ATTRS{idVendor}=="1e0e", SYMLINK+="appliance/x"')
    assert evaluate(split, node, builtins).symlinks == {"appliance/x"}


def test_rule_lines_in_the_technicians_guide_are_valid(rules):
    """Every rule quoted in docs/udev.md parses, names under appliance/, and grants 0660 access."""
    doc = (REPO / "docs" / "udev.md").read_text()
    quoted = [line for line in doc.splitlines() if line.startswith("SUBSYSTEM==")]
    site, errors = parse_rules("\n".join(quoted))
    assert len(site) >= 4 and errors == []
    ft2232, builtins = usb_child(usb_device("0403", "6010", "FT4XYZ"), 0, "tty", "ttyUSB3")
    out = evaluate(rules + site, ft2232, builtins)
    assert out.symlinks == {"appliance/wallboard-2"}
    assert serial_access(out) == ("dialout", "0660", "1", True)
    for pair in (p for r in site for p in r.pairs if p.key in ("SYMLINK", "MODE") and not p.is_match):
        assert pair.value.startswith("appliance/") if pair.key == "SYMLINK" else pair.value == "0660"
