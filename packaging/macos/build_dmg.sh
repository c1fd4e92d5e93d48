#!/usr/bin/env bash
# Build Cockpit.app and a .dmg on macOS. NOT TESTED on this project's Linux machines; run on
# a Mac with Python 3.11 (python.org universal2 or Homebrew):
#   bash packaging/macos/build_dmg.sh
# The spec (packaging/cockpit.spec) makes dist/Cockpit.app from the same onedir COLLECT via
# BUNDLE on macOS; this script adds the venv, a smoke test and the disk image. Signing and
# notarization (codesign --deep --options runtime, xcrun notarytool) need an Apple Developer
# ID and are left to the release manager: an unsigned app opens with right-click > Open.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-python3.11}
VENV=build/pkg-venv-mac
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" packaging/runtime_requirements.py > build/pkg-requirements.txt
echo "pyinstaller>=6.10,<7" >> build/pkg-requirements.txt
"$VENV/bin/python" -m pip install -q -r build/pkg-requirements.txt
"$VENV/bin/python" packaging/runtime_requirements.py --check-venv

"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/cockpit.spec

QT_QPA_PLATFORM=offscreen dist/Cockpit.app/Contents/MacOS/cockpit app --smoke-test

VERSION=$("$VENV/bin/python" -c 'import sys; sys.path.insert(0, "packaging"); import bundle_rules, pathlib; print(bundle_rules.version(pathlib.Path(".")))')
STAGE=build/dmg
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -R dist/Cockpit.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Cockpit $VERSION" -srcfolder "$STAGE" -ov -format UDZO \
    "dist/cockpit-$VERSION-macos-$(uname -m).dmg"
