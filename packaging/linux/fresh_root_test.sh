#!/usr/bin/env bash
# Optional, heavier than package-test: install the .deb in a *fresh* minimal Debian 12 root
# (debootstrap --variant=minbase, no X libraries at all) and run both smoke tests there on
# xcb. Proves the Depends are complete on a machine that never had Qt's libraries, which
# package-test on a developer's machine cannot show by itself. Root, network to Debian's
# archive, and permission to mount /proc and /dev in a chroot are needed. 1-5 minutes.
#   bash packaging/linux/fresh_root_test.sh [dist/cockpit-mlops_X_amd64.deb]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$(pwd)
DEB=${1:-$(ls -t dist/cockpit-mlops_*.deb | head -n1)}
R=${FRESH_ROOT:-/tmp/cockpit-fresh-root}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
rm -rf "$R"
debootstrap --variant=minbase bookworm "$R" "$MIRROR" >/dev/null
cp "$DEB" "$R/tmp/cockpit.deb"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
trap 'umount "$R/dev" "$R/proc" 2>/dev/null || true' EXIT

chroot "$R" /bin/bash -euc '
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends /tmp/cockpit.deb xvfb xauth >/dev/null 2>&1
mkdir -p /tmp/w/home /tmp/w/rt && chmod 700 /tmp/w/rt && cd /tmp/w
for cmd in "app --smoke-test" "demo --smoke-test --duration 5"; do
    name=${cmd%% *}
    env -i PATH=/usr/bin:/bin HOME=/tmp/w/home XDG_RUNTIME_DIR=/tmp/w/rt QT_QPA_PLATFORM=xcb \
        xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" cockpit $cmd \
        >"$name.out" 2>"$name.err"
    grep -q "smoke test passed; Qt xcb platform" "$name.out"
done
echo "packages in the fresh root: $(dpkg -l | grep -c "^ii")"
'
for name in app demo; do
    python3 "$ROOT_DIR/packaging/linux/stderr_allowlist.py" "$R/tmp/w/$name.err"
    echo "ok   cockpit $name --smoke-test passed on xcb in a fresh Debian 12 root, stderr clean"
done
