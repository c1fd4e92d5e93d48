#!/usr/bin/env bash
# Wrap a built onedir bundle in a .deb:
#   /opt/cockpit/                    the bundle (its own Python, Qt, libraries)
#   /usr/bin/cockpit                 launcher script (packaging/linux/cockpit-launcher.sh)
#   /usr/share/applications/cockpit.desktop and the icon in the hicolor theme
# Usage: build_deb.sh BUNDLE_DIR VERSION ARCH OUT_DIR   (called by packaging/build.sh)
set -euo pipefail

BUNDLE=$1
VERSION=$2
ARCH=$3
OUT=$4
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=cockpit-mlops  # Debian's "cockpit" is the unrelated server web console
STAGE=$ROOT/build/deb/${NAME}_${VERSION}_${ARCH}

rm -rf "$STAGE"
install -d "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/doc/$NAME"
cp -a "$BUNDLE" "$STAGE/opt/cockpit"
install -m 0755 "$HERE/cockpit-launcher.sh" "$STAGE/usr/bin/cockpit"

if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$HERE/cockpit.desktop"
fi
install -m 0644 "$HERE/cockpit.desktop" "$STAGE/usr/share/applications/cockpit.desktop"
for size in 48 128 256; do
    install -D -m 0644 "$ROOT/resources/cockpit-$size.png" \
        "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/$NAME.png"
done
install -D -m 0644 "$ROOT/resources/cockpit.svg" \
    "$STAGE/usr/share/icons/hicolor/scalable/apps/$NAME.svg"

cat > "$STAGE/usr/share/doc/$NAME/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cockpit
License: MIT
Comment: /opt/cockpit bundles Python, Qt (PySide6, LGPLv3), DuckDB, NumPy and the other
 runtime dependencies listed in the project's pyproject.toml, each under its own license;
 their license files are inside /opt/cockpit/_internal.
EOF

INSTALLED_KB=$(du -sk --apparent-size "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_KB/" \
    "$HERE/control.in" > "$STAGE/DEBIAN/control"
install -m 0755 "$HERE/postinst" "$STAGE/DEBIAN/postinst"
install -m 0755 "$HERE/postrm" "$STAGE/DEBIAN/postrm"

# Every library the bundle loads from the OS must come with the Depends above.
python3 "$HERE/check_bundle.py" depends "$STAGE/opt/cockpit" "$STAGE/DEBIAN/control"

mkdir -p "$OUT"
# gzip: every dpkg reads it, and it compresses 250 MB in seconds rather than minutes (xz).
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$OUT/${NAME}_${VERSION}_${ARCH}.deb"
