#!/usr/bin/env bash
# `make package`: the frozen onedir bundle, its tar.gz and the .deb, in dist/.
#
# Builds from a venv of its own (build/pkg-venv) holding only pyproject's
# [project.dependencies] plus PyInstaller, so nothing from the dev venv (torch, pytest,
# tensorboard...) can be collected. Idempotent: the venv is reused while the requirements
# are unchanged; the bundle is rebuilt every time (about 2 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-python3}
PKG_VENV=${PKG_VENV:-build/pkg-venv}
PYINSTALLER_REQ=${PYINSTALLER_REQ:-pyinstaller>=6.10,<7}
DIST=dist

need_apt=()
command -v dpkg-deb >/dev/null || need_apt+=(dpkg)
command -v strip >/dev/null && command -v readelf >/dev/null || need_apt+=(binutils)
command -v desktop-file-validate >/dev/null || need_apt+=(desktop-file-utils)
if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "package: installing ${need_apt[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        echo "package: missing tools; install: ${need_apt[*]}" >&2
        exit 1
    fi
fi

# The libraries the .deb depends on must be on the build machine too: PyInstaller resolves
# Qt's plugins against them and build_deb.sh checks every one is covered by the Depends.
mapfile -t runtime_debs < <("$PY" packaging/linux/check_bundle.py control-depends packaging/linux/control.in)
missing_debs=()
for deb in "${runtime_debs[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing_debs+=("$deb")
done
if ((${#missing_debs[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "package: installing the .deb's runtime libraries: ${missing_debs[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debs[@]}"
    else
        echo "package: install the .deb's runtime libraries first: ${missing_debs[*]}" >&2
        exit 1
    fi
fi

# 1. The build venv: runtime dependencies only.
mkdir -p build
"$PY" packaging/runtime_requirements.py > build/pkg-requirements.txt
echo "$PYINSTALLER_REQ" >> build/pkg-requirements.txt
if ! cmp -s build/pkg-requirements.txt "$PKG_VENV/.requirements" 2>/dev/null; then
    echo "package: creating $PKG_VENV (runtime dependencies + PyInstaller only)"
    rm -rf "$PKG_VENV"
    "$PY" -m venv "$PKG_VENV"
    "$PKG_VENV/bin/python" -m pip install -q --upgrade pip
    "$PKG_VENV/bin/python" -m pip install -q -r build/pkg-requirements.txt
    cp build/pkg-requirements.txt "$PKG_VENV/.requirements"
fi
"$PKG_VENV/bin/python" packaging/runtime_requirements.py --check-venv

# 2. The onedir bundle.
rm -rf "$DIST/cockpit"
"$PKG_VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath build/pyinstaller packaging/cockpit.spec

# 3. Debug symbols out of the binaries built here (libpython, lib-dynload, zstandard: ~35 MB).
#    Files repaired by auditwheel (under *.libs/) are left alone: strip can corrupt them.
stripped=0
while IFS= read -r -d '' file; do
    case "$file" in *.libs/*) continue ;; esac
    if head -c4 "$file" | grep -q ELF && readelf -S "$file" 2>/dev/null | grep -q '\.debug_info'; then
        strip --strip-debug "$file"
        stripped=$((stripped + 1))
    fi
done < <(find "$DIST/cockpit" -type f -print0)
echo "package: stripped debug info from $stripped files"

"$PY" packaging/linux/check_bundle.py forbidden "$DIST/cockpit"
"$DIST/cockpit/cockpit" --version

# 4. tar.gz of the bundle and the .deb.
VERSION=$("$PY" -c 'import sys; sys.path.insert(0, "packaging"); import bundle_rules, pathlib; print(bundle_rules.version(pathlib.Path(".")))')
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
TARBALL="$DIST/cockpit-$VERSION-linux-$(uname -m).tar.gz"
tar -C "$DIST" -czf "$TARBALL" cockpit
bash packaging/linux/build_deb.sh "$DIST/cockpit" "$VERSION" "$ARCH" "$DIST"

echo "package: bundle $(du -sh "$DIST/cockpit" | cut -f1) unpacked in $DIST/cockpit"
ls -l "$TARBALL" "$DIST"/*.deb
