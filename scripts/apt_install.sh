#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages named in the lists given (one package per line, `#`
# comments) when running as root with apt; otherwise says which are missing and moves on:
# tests that need them skip with the exact reason. Idempotent: installed packages are skipped.
set -uo pipefail
missing=()
for list in "$@"; do
    while read -r pkg _; do
        [[ -z "$pkg" || "$pkg" == \#* ]] && continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done < "$list"
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        echo "apt: could not install ${missing[*]}; the tests that need them will skip" >&2
    fi
else
    echo "apt: not root, not installing ${missing[*]}; the tests that need them will skip" >&2
fi
exit 0
