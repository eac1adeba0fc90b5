#!/usr/bin/env bash
# Install the call-centre site appliance on this box: system user, virtualenv, systemd units, udev rules, config skeleton.
#
# Run as root from the source tree (make install does):
#   [DESTDIR=/staging/root] [PREFIX=/opt/appliance] scripts/install.sh
# Environment:
#   DESTDIR              stage into this root instead of the live system: no user is created, nothing
#                        is chowned, started or reloaded (the image's first boot runs systemd-sysusers).
#   PREFIX               where the virtualenv goes (default /opt/appliance); the units are rewritten to match.
#   PYTHON               interpreter for the virtualenv (default python3, must be >= 3.11).
#   PIP_INSTALL_ARGS     extra pip arguments, e.g. "--no-index --find-links /media/usb/wheels" offline.
#   APPLIANCE_SKIP_VENV  1 = do not create or touch the virtualenv (tests, or images that build it later).
#
# Where things go, and why:
#   units        /etc/systemd/system/       a local install, not a distro package: /usr/lib is dpkg's.
#   udev rules   /etc/udev/rules.d/60-appliance.rules (ours, replaced on reinstall) and
#                61-appliance-site.rules (the technician's adapter names, created once, never replaced).
#   sysusers     /usr/lib/sysusers.d/appliance.conf   vendor default; /etc/sysusers.d/ may override it.
#   modules      /etc/modules-load.d/appliance.conf   HID core at boot, so DeviceAllow=char-hidraw resolves.
#   config       /etc/appliance/appliance.toml (root:appliance 0640), only if absent; otherwise the new
#                example lands beside it as appliance.toml.example for diffing.
#   state        /var/lib/appliance (appliance:appliance 0700).
# Safe to run again: an upgrade re-installs the package and restarts a running daemon.
set -euo pipefail
# The daemon runs as another user: a root umask of 077 would make the venv unreadable to it.
umask 022

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/appliance}
PYTHON=${PYTHON:-python3}
PIP_INSTALL_ARGS=${PIP_INSTALL_ARGS:-}
APPLIANCE_SKIP_VENV=${APPLIANCE_SKIP_VENV:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
SERVICE_USER=appliance

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

case "$PREFIX" in
    /*[!A-Za-z0-9/._-]*) die "PREFIX may only hold letters, digits and / . _ -, got '$PREFIX'" ;;
    /?*) ;;
    *) die "PREFIX must be an absolute path other than /, got '$PREFIX'" ;;
esac
PREFIX=${PREFIX%/}
live=0
[ -z "$DESTDIR" ] && live=1
if [ "$live" = 1 ] && [ "$(id -u)" != 0 ]; then
    die "run as root (or set DESTDIR to stage into a directory)"
fi
for f in systemd/appliance.service systemd/appliance-selftest.service systemd/appliance-selftest.timer \
         systemd/60-appliance.rules systemd/appliance.sysusers config/appliance.example.toml; do
    [ -f "$SRC/$f" ] || die "missing $SRC/$f: run from a complete source tree"
done

# install_file MODE SRC DEST: copy (replacing) with a mode; root-owned on a live system.
install_file() {
    install -D -m "$1" "$2" "$DESTDIR$3"
}

# 1. The system user and group (from the same sysusers file systemd would use at boot).
install_file 0644 "$SRC/systemd/appliance.sysusers" /usr/lib/sysusers.d/appliance.conf
if [ "$live" = 1 ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers /usr/lib/sysusers.d/appliance.conf
    elif ! getent passwd "$SERVICE_USER" >/dev/null; then
        getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
        useradd --system --gid "$SERVICE_USER" --groups dialout,audio --home-dir /var/lib/appliance \
            --no-create-home --shell /usr/sbin/nologin --comment "Call-centre site appliance" "$SERVICE_USER"
    fi
    say "system user '$SERVICE_USER' present"
fi

# 2. The virtualenv and the package (not editable: the source tree may be deleted afterwards).
if [ "$APPLIANCE_SKIP_VENV" = 1 ]; then
    say "APPLIANCE_SKIP_VENV=1: leaving $DESTDIR$PREFIX/venv alone"
else
    [ -n "$DESTDIR" ] && say "note: a virtualenv is not relocatable; run the staged tree at $DESTDIR as / (chroot or image)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
    install -d -m 0755 "$DESTDIR$PREFIX"
    [ -x "$DESTDIR$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$DESTDIR$PREFIX/venv"
    # shellcheck disable=SC2086  # PIP_INSTALL_ARGS is a list of words on purpose
    "$DESTDIR$PREFIX/venv/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_INSTALL_ARGS "$SRC"
    [ -x "$DESTDIR$PREFIX/venv/bin/appliance" ] || die "pip did not install the 'appliance' command"
    say "package installed in $DESTDIR$PREFIX/venv"
fi

# 2b. The `appliance` command on the technician's PATH.
install -d -m 0755 "$DESTDIR/usr/local/bin"
ln -sfn "$PREFIX/venv/bin/appliance" "$DESTDIR/usr/local/bin/appliance"

# 3. systemd units, with the install prefix written into ExecStart=.
for unit in appliance.service appliance-selftest.service appliance-selftest.timer; do
    install -d -m 0755 "$DESTDIR/etc/systemd/system"
    sed "s#/opt/appliance/#$PREFIX/#g" "$SRC/systemd/$unit" > "$DESTDIR/etc/systemd/system/$unit.tmp"
    chmod 0644 "$DESTDIR/etc/systemd/system/$unit.tmp"
    mv -f "$DESTDIR/etc/systemd/system/$unit.tmp" "$DESTDIR/etc/systemd/system/$unit"
done

# 4. udev rules, the technician's site rules skeleton, and the HID core at boot.
install_file 0644 "$SRC/systemd/60-appliance.rules" /etc/udev/rules.d/60-appliance.rules
site_rules="$DESTDIR/etc/udev/rules.d/61-appliance-site.rules"
if [ ! -e "$site_rules" ]; then
    cat > "$site_rules" <<'EOF'
# Site-specific device names for the call-centre appliance: one line per USB-serial adapter.
# Kept across reinstalls. Find the adapter's serial with: udevadm info -q property -n /dev/ttyUSB0
# (see the examples at the end of 60-appliance.rules and the README), then:
#   udevadm control --reload && udevadm trigger
# SUBSYSTEM=="tty", ENV{ID_VENDOR_ID}=="0403", ENV{ID_MODEL_ID}=="6001", ENV{ID_SERIAL_SHORT}=="A502NJ4X", SYMLINK+="appliance/wallboard-1"
EOF
    chmod 0644 "$site_rules"
fi
install -d -m 0755 "$DESTDIR/etc/modules-load.d"
cat > "$DESTDIR/etc/modules-load.d/appliance.conf" <<'EOF'
# Call-centre appliance: load the HID core at boot so its hidraw device major exists before
# appliance.service starts (DeviceAllow=char-hidraw is resolved against /proc/devices at start).
hid
EOF
chmod 0644 "$DESTDIR/etc/modules-load.d/appliance.conf"

# 5. Configuration: never overwrite the site's file.
install -d -m 0750 "$DESTDIR/etc/appliance"
config="$DESTDIR/etc/appliance/appliance.toml"
if [ -e "$config" ]; then
    install -m 0640 "$SRC/config/appliance.example.toml" "$config.example"
    say "kept $config; the new example is $config.example (diff them)"
    config_files=("$DESTDIR/etc/appliance" "$config.example")
else
    install -m 0640 "$SRC/config/appliance.example.toml" "$config"
    say "wrote $config from the example: edit it for this site"
    config_files=("$DESTDIR/etc/appliance" "$config")
fi

# 6. State directory (systemd's StateDirectory= would create it too; this makes it exist before first start).
install -d -m 0700 "$DESTDIR/var/lib/appliance"

if [ "$live" = 0 ]; then
    say "staged into $DESTDIR; nothing started"
    exit 0
fi

chown root:"$SERVICE_USER" "${config_files[@]}"
chown "$SERVICE_USER:$SERVICE_USER" /var/lib/appliance

# 7. Activate, only on a box that is running systemd (not in a container or chroot).
if [ ! -d /run/systemd/system ]; then
    say "systemd is not running here: on the target run"
    say "  systemctl daemon-reload && systemctl enable --now appliance.service appliance-selftest.timer"
    exit 0
fi
modprobe -q hid 2>/dev/null || true
was_active=0
systemctl is-active --quiet appliance.service && was_active=1
systemctl daemon-reload
systemctl enable --now appliance.service appliance-selftest.timer
[ "$was_active" = 1 ] && systemctl restart appliance.service   # an upgrade: run the new code
if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload && udevadm trigger
fi
say "appliance.service enabled and started; status: systemctl status appliance"
