#!/usr/bin/env bash
# `make run`/`make test` build a virtualenv; Debian and Ubuntu ship Python without ensurepip
# until python3-venv is installed. Install it when root, else say the one line to run.
set -u
py=${1:-python3}
command -v "$py" >/dev/null || { echo "Cockpit needs Python 3.11 or newer: sudo apt install python3 python3-venv" >&2; exit 2; }
"$py" -c "import ensurepip, venv" 2>/dev/null && exit 0
pkg="python3-venv"
ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null) && pkg="python${ver}-venv"
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing $pkg (Python's venv module)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null; } \
        || { echo "could not install $pkg" >&2; exit 2; }
else
    echo "Python's venv module is missing. Install it with:" >&2
    echo "    sudo apt install $pkg" >&2
    exit 2
fi
