#!/usr/bin/env bash
# Remove what scripts/install.sh put on this box; keep the site's config and call data unless PURGE=1.
#
#   [DESTDIR=/staging/root] [PREFIX=/opt/appliance] [PURGE=1] scripts/uninstall.sh
# Kept by default: /etc/appliance (config, TLS material), /var/lib/appliance (the call store and
# recordings not yet synced), /var/log/appliance, the technician's 61-appliance-site.rules and the
# system user. PURGE=1 removes those too. Safe to run again.
set -euo pipefail

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/appliance}
PURGE=${PURGE:-0}
SERVICE_USER=appliance

say() { printf 'uninstall: %s\n' "$*"; }
die() { printf 'uninstall: error: %s\n' "$*" >&2; exit 1; }

case "$PREFIX" in
    /*[!A-Za-z0-9/._-]*) die "PREFIX may only hold letters, digits and / . _ -, got '$PREFIX'" ;;
    /?*) ;;
    *) die "PREFIX must be an absolute path other than /, got '$PREFIX'" ;;
esac
PREFIX=${PREFIX%/}
live=0
[ -z "$DESTDIR" ] && live=1
if [ "$live" = 1 ] && [ "$(id -u)" != 0 ]; then
    die "run as root (or set DESTDIR to act on a staged directory)"
fi

units=(appliance.service appliance-selftest.service appliance-selftest.timer)
if [ "$live" = 1 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now appliance-selftest.timer appliance.service 2>/dev/null || true
    systemctl stop appliance-selftest.service 2>/dev/null || true
fi

for unit in "${units[@]}"; do
    rm -f "$DESTDIR/etc/systemd/system/$unit"
done
rm -f "$DESTDIR/etc/udev/rules.d/60-appliance.rules" \
      "$DESTDIR/etc/modules-load.d/appliance.conf" \
      "$DESTDIR/usr/lib/sysusers.d/appliance.conf"
if [ "$(readlink "$DESTDIR/usr/local/bin/appliance" 2>/dev/null)" = "$PREFIX/venv/bin/appliance" ]; then
    rm -f "$DESTDIR/usr/local/bin/appliance"
fi
rm -rf "$DESTDIR$PREFIX/venv"
# The prefix itself only if nothing else lives there.
[ -d "$DESTDIR$PREFIX" ] && rmdir "$DESTDIR$PREFIX" 2>/dev/null || true

if [ "$PURGE" = 1 ]; then
    rm -rf "$DESTDIR/etc/appliance" "$DESTDIR/var/lib/appliance" "$DESTDIR/var/log/appliance"
    rm -f "$DESTDIR/etc/udev/rules.d/61-appliance-site.rules"
    if [ "$live" = 1 ] && getent passwd "$SERVICE_USER" >/dev/null; then
        userdel "$SERVICE_USER"
    fi
    if [ "$live" = 1 ] && getent group "$SERVICE_USER" >/dev/null; then
        groupdel "$SERVICE_USER"
    fi
    say "purged config, call data and the '$SERVICE_USER' user"
else
    say "kept $DESTDIR/etc/appliance and $DESTDIR/var/lib/appliance (PURGE=1 removes them)"
fi

if [ "$live" = 1 ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl reset-failed appliance.service appliance-selftest.service 2>/dev/null || true
    if command -v udevadm >/dev/null 2>&1; then
        udevadm control --reload
    fi
fi
say "done"
