#!/usr/bin/env bash
# A fresh Debian 12 desktop runs `make run` from a source checkout to a window (issue 12).
#
# debootstrap a minimal bookworm root (no X libraries), copy the checkout into it, then:
#  1. as a normal user: `make run` builds .venv and stops at the xcb check with the one
#     `sudo apt install ...` line (it cannot install: not root);
#  2. as root: `make run RUN_ARGS="--smoke-test"` installs the missing xcb packages itself and
#     opens the demo window under Xvfb on the xcb platform (the smoke test renders every
#     panel), saving a screenshot of the X screen to build/fresh-root/make_run_xcb.png.
# pip resolves packages as on this machine (its pip.conf and local wheel folders are bound
# in, so torch is the CPU build). Root, network to Debian's archive, and permission to
# mount /proc and /dev in a chroot are needed. 5-15 minutes.
#   bash packaging/linux/fresh_make_run_test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
R=${FRESH_ROOT:-/tmp/cockpit-fresh-make-run}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
OUT=$SRC/build/fresh-root
mkdir -p "$OUT"

command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
umount "$R/opt/wheels" "$R/opt/pypi" "$R/opt/pypi-more" "$R/dev" "$R/proc" 2>/dev/null || true
rm -rf "$R"
echo "== debootstrap --variant=minbase bookworm $R"
debootstrap --variant=minbase bookworm "$R" "$MIRROR" >/dev/null
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
for d in /opt/wheels /opt/pypi /opt/pypi-more; do
    if [ -d "$d" ]; then mkdir -p "$R$d"; mount --bind "$d" "$R$d"; fi
done
trap 'umount "$R/opt/wheels" "$R/opt/pypi" "$R/opt/pypi-more" "$R/dev" "$R/proc" 2>/dev/null || true' EXIT
# This machine's CA bundle too: a proxy between it and the package registry may sign with its
# own root, which a fresh root does not know.
cp /etc/ssl/certs/ca-certificates.crt "$R/etc/host-ca-certificates.crt"
for f in /etc/pip.conf /etc/xdg/pip/constraints.txt; do
    if [ -f "$f" ]; then mkdir -p "$R$(dirname "$f")"; cp "$f" "$R$f"; fi
done
# The checkout as a user would have it (tracked and new files; no .venv, no build output).
mkdir -p "$R/home/dev/cockpit"
git ls-files -z --cached --others --exclude-standard | \
    tar --null -T - -cf - | tar -xf - -C "$R/home/dev/cockpit"

chroot "$R" /bin/bash -euc '
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
apt-get update -qq
# What the Quick start asks for: make and Python with venv.
apt-get install -y -qq --no-install-recommends make python3 python3-venv ca-certificates >/dev/null
cp /etc/host-ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
useradd -m -s /bin/bash dev 2>/dev/null || true
chown -R dev:dev /home/dev
echo "== packages before: $(dpkg -l | grep -c "^ii"); xcb libraries: $(dpkg -l | grep -c "^ii  libxcb" || true)"
echo "== 1. make run as a user (no root): expect the apt line"
set +e
su dev -c "cd /home/dev/cockpit && make run" >/tmp/user.out 2>&1
code=$?
set -e
tail -n 4 /tmp/user.out
[ "$code" -ne 0 ] || { echo "FAIL make run as a user did not stop"; exit 1; }
grep -q "sudo apt install .*libxcb-cursor0" /tmp/user.out || { echo "FAIL no apt line"; exit 1; }
echo "ok   make run stopped with the apt line (exit $code)"
echo "== 2. make run as root under Xvfb on xcb: installs the packages, opens the window"
apt-get install -y -qq --no-install-recommends xvfb xauth >/dev/null
cd /home/dev/cockpit
mkdir -p /tmp/rt && chmod 700 /tmp/rt
XDG_RUNTIME_DIR=/tmp/rt QT_QPA_PLATFORM=xcb COCKPIT_SMOKE_SCREENSHOT=/tmp/make_run_xcb.png \
    xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" \
    make run RUN_ARGS="--smoke-test --duration 5" >/tmp/root.out 2>&1
grep -E "^(ok|FAIL) |smoke test|installing|needs" /tmp/root.out
grep -q "smoke test passed; Qt xcb platform" /tmp/root.out
echo "== packages after: $(dpkg -l | grep -c "^ii"); xcb libraries: $(dpkg -l | grep -c "^ii  libxcb")"
'
cp "$R/tmp/make_run_xcb.png" "$R/tmp/user.out" "$R/tmp/root.out" "$OUT/"
echo "ok   a fresh Debian 12 root ran make run to a window on xcb; screenshot in $OUT"
