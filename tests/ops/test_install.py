"""scripts/install.sh and uninstall.sh, run for real into a temporary DESTDIR root."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def src(tmp_path) -> Path:
    """A copy of the parts of the source tree the scripts use (so a test can change it)."""
    tree = tmp_path / "src"
    for part in ("scripts", "systemd"):
        shutil.copytree(REPO / part, tree / part)
    (tree / "config").mkdir()
    example = REPO / "config" / "appliance.example.toml"
    if example.exists():
        shutil.copy(example, tree / "config" / example.name)
    else:  # the lead's example config is not written yet
        (tree / "config" / example.name).write_text("# example\n")
    return tree


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


def run(src: Path, script: str, root: Path, check: bool = True, umask: int = 0o022, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "PREFIX", "PURGE", "PIP_INSTALL_ARGS")}
    done = subprocess.run(
        ["bash", "-c", f"umask {umask:03o} && exec bash {src / 'scripts' / script}"],
        env={**base, "DESTDIR": str(root), "APPLIANCE_SKIP_VENV": "1", **env},
        capture_output=True, text=True, timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def tree(root: Path) -> dict[str, str]:
    """Every file and directory under root -> its permission bits (e.g. '0644')."""
    out = {}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))[2:].zfill(4)
    return out


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


EXPECTED = {
    "etc/systemd/system/appliance.service": "0644",
    "etc/systemd/system/appliance-selftest.service": "0644",
    "etc/systemd/system/appliance-selftest.timer": "0644",
    "etc/udev/rules.d/60-appliance.rules": "0644",
    "etc/udev/rules.d/61-appliance-site.rules": "0644",
    "etc/modules-load.d/appliance.conf": "0644",
    "usr/lib/sysusers.d/appliance.conf": "0644",
    "usr/local/bin/appliance": "0777",          # a symlink: the technician's `appliance` command
    "etc/appliance": "0750",
    "etc/appliance/appliance.toml": "0640",
    "var/lib/appliance": "0700",
}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_install_stages_every_file_with_its_mode(src, root, umask):
    run(src, "install.sh", root, umask=umask)
    staged = tree(root)
    assert {path: staged.get(path) for path in EXPECTED} == EXPECTED
    assert set(files(root)) == {p for p in EXPECTED if p not in ("etc/appliance", "var/lib/appliance")}
    # Every other directory (etc/systemd/system, usr/lib/sysusers.d, ...) must stay traversable.
    assert {p: m for p, m in staged.items() if (root / p).is_dir() and p not in EXPECTED} == {
        p: "0755" for p, m in staged.items() if (root / p).is_dir() and p not in EXPECTED}
    for name in ("appliance.service", "appliance-selftest.service", "appliance-selftest.timer"):
        assert (root / "etc/systemd/system" / name).read_text() == (src / "systemd" / name).read_text()
    assert (root / "etc/udev/rules.d/60-appliance.rules").read_bytes() == (src / "systemd/60-appliance.rules").read_bytes()
    assert os.readlink(root / "usr/local/bin/appliance") == "/opt/appliance/venv/bin/appliance"
    assert (root / "etc/appliance/appliance.toml").read_bytes() == (src / "config/appliance.example.toml").read_bytes()
    assert (root / "etc/modules-load.d/appliance.conf").read_text().split("\n")[-2] == "hid"
    assert not (root / "opt").exists(), "APPLIANCE_SKIP_VENV=1 must not create the venv"


def test_prefix_is_written_into_the_units(src, root):
    run(src, "install.sh", root, PREFIX="/srv/cca/")
    for name, verb in (("appliance.service", "run"), ("appliance-selftest.service", "selftest")):
        text = (root / "etc/systemd/system" / name).read_text()
        assert f"ExecStart=/srv/cca/venv/bin/appliance {verb} --config /etc/appliance/appliance.toml\n" in text
        assert "/opt/appliance" not in text


@pytest.mark.parametrize("prefix", ["relative/path", "/", "/opt/app#liance", "/opt/a b"])
def test_a_bad_prefix_is_refused_before_anything_is_written(src, root, prefix):
    done = run(src, "install.sh", root, check=False, PREFIX=prefix)
    assert done.returncode != 0 and "PREFIX" in done.stderr
    assert list(root.iterdir()) == []


def test_a_missing_example_config_is_a_clear_error(src, root):
    (src / "config/appliance.example.toml").unlink()
    done = run(src, "install.sh", root, check=False)
    assert done.returncode != 0 and "appliance.example.toml" in done.stderr
    assert list(root.iterdir()) == []


def test_reinstall_keeps_the_sites_config_and_adapter_names_but_updates_our_files(src, root):
    run(src, "install.sh", root)
    config = root / "etc/appliance/appliance.toml"
    site_rules = root / "etc/udev/rules.d/61-appliance-site.rules"
    config.write_text("# this site's settings\n")
    site_rules.write_text('SUBSYSTEM=="tty", ENV{ID_SERIAL_SHORT}=="A502NJ4X", SYMLINK+="appliance/wallboard-1"\n')
    (root / "etc/udev/rules.d/60-appliance.rules").write_text("# stale\n")
    (src / "config/appliance.example.toml").write_text("# the new release's example\n")

    run(src, "install.sh", root)

    assert config.read_text() == "# this site's settings\n"
    assert site_rules.read_text().startswith('SUBSYSTEM=="tty"')
    example = root / "etc/appliance/appliance.toml.example"
    assert example.read_text() == "# the new release's example\n"
    assert tree(root)["etc/appliance/appliance.toml.example"] == "0640"
    assert (root / "etc/udev/rules.d/60-appliance.rules").read_bytes() == (src / "systemd/60-appliance.rules").read_bytes()


def test_install_twice_gives_the_same_tree(src, root):
    run(src, "install.sh", root)
    first = tree(root)
    run(src, "install.sh", root)
    second = tree(root)
    assert second.pop("etc/appliance/appliance.toml.example") == "0640"
    assert second == first


def test_uninstall_removes_what_install_added_and_keeps_config_and_data(src, root):
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/other.service").write_text("[Service]\nExecStart=/bin/true\n")
    (root / "opt/appliance").mkdir(parents=True)
    before = files(root)

    run(src, "install.sh", root)
    (root / "opt/appliance/venv/bin").mkdir(parents=True)  # what pip would have made
    (root / "opt/appliance/venv/bin/appliance").write_text("#!/bin/sh\n")
    (root / "var/lib/appliance/appliance.db").write_text("calls not yet synced")
    run(src, "uninstall.sh", root)

    kept = {"etc/appliance/appliance.toml", "etc/udev/rules.d/61-appliance-site.rules", "var/lib/appliance/appliance.db"}
    assert files(root) == before | kept
    assert not (root / "opt/appliance").exists()
    assert (root / "var/lib/appliance/appliance.db").read_text() == "calls not yet synced"

    run(src, "uninstall.sh", root)  # again: nothing left to do, no error
    assert files(root) == before | kept


def test_purge_removes_config_data_and_site_names_too(src, root):
    run(src, "install.sh", root)
    (root / "var/lib/appliance/appliance.db").write_text("x")
    (root / "var/log/appliance").mkdir(parents=True)
    run(src, "uninstall.sh", root, PURGE="1")
    leftovers = [p for p in files(root) | {str(p.relative_to(root)) for p in root.rglob("*")} if "appliance" in p]
    assert leftovers == []
    run(src, "uninstall.sh", root, PURGE="1")


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers not installed")
def test_staged_sysusers_file_creates_the_service_user(src, root):
    run(src, "install.sh", root)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\naudio:x:29:\n")
    conf = (root / "usr/lib/sysusers.d/appliance.conf").read_text()
    done = subprocess.run(["systemd-sysusers", f"--root={root}", "-"], input=conf, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    user = users["appliance"]
    assert (user[5], user[6]) == ("/var/lib/appliance", "/usr/sbin/nologin")
    assert 0 < int(user[2]) < 1000, "a system account"
    assert groups["appliance"][2] == user[3]
    assert "appliance" in groups["dialout"][3].split(",") and "appliance" in groups["audio"][3].split(",")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
@pytest.mark.parametrize("script", ["install.sh", "uninstall.sh"])
def test_live_mode_refuses_to_run_without_root(src, script):
    env = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "PREFIX", "PURGE")}
    # Fed on stdin: nobody cannot read pytest's private tmp directories.
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-s"],
        input=(src / "scripts" / script).read_text(), cwd="/",
        env={**env, "APPLIANCE_SKIP_VENV": "1"}, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode != 0 and "run as root" in done.stderr


@pytest.mark.parametrize("script", ["install.sh", "uninstall.sh"])
def test_scripts_are_valid_bash_and_executable(script):
    path = REPO / "scripts" / script
    assert os.access(path, os.X_OK)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
