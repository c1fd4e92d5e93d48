#!/usr/bin/env bash
# `make package-test`: install the .deb built by `make package` the way a user would and
# check the installed app on the real display stack. Run as root (it installs packages).
#
#  1. apt-get installs the .deb, which pulls its Depends (the X11/xcb/GL libraries Qt needs).
#  2. The installed files are where they should be; the .desktop entry validates.
#  3. ldd: the Qt xcb platform plugin (and its GL integrations) resolve every library.
#  4. The installed `cockpit app --smoke-test` and `cockpit demo --smoke-test` pass under
#     Xvfb with QT_QPA_PLATFORM=xcb (offscreen would hide a missing xcb library), run from
#     an empty folder so the bundled sample_runs are the ones used; stderr must be empty
#     but for packaging/linux/stderr_allowlist.py's entries.
#  5. Headless commands work frozen (--version, import + query, doctor, check, eval summary).
#  6. Sizes and start time to the first window are measured (build/package-metrics.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

if [ "$(id -u)" != 0 ]; then
    echo "package-test installs a .deb: run it as root" >&2
    exit 1
fi
DEB=$(ls -t dist/cockpit-mlops_*.deb 2>/dev/null | head -n1 || true)
TARBALL=$(ls -t dist/cockpit-*-linux-*.tar.gz 2>/dev/null | head -n1 || true)
if [ -z "$DEB" ]; then
    echo "no dist/cockpit-mlops_*.deb: run \`make package\` first" >&2
    exit 1
fi

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL $*" >&2; exit 1; }

step "installing $DEB with apt (pulls its Depends)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq xvfb xauth desktop-file-utils >/dev/null
apt-get install -y -qq --reinstall "./$DEB" >/dev/null
dpkg-query -W -f='${Package} ${Version} ${Status}\n' cockpit-mlops

step "installed files"
for f in /usr/bin/cockpit /opt/cockpit/cockpit /usr/share/applications/cockpit.desktop \
         /usr/share/icons/hicolor/256x256/apps/cockpit-mlops.png \
         /usr/share/icons/hicolor/scalable/apps/cockpit-mlops.svg; do
    [ -e "$f" ] || fail "$f is missing after installing the .deb"
done
[ "$(command -v cockpit)" = /usr/bin/cockpit ] || fail "cockpit on PATH is $(command -v cockpit)"
desktop-file-validate /usr/share/applications/cockpit.desktop
echo "ok   launcher, bundle, desktop entry and icons installed"
python3 packaging/linux/check_bundle.py forbidden /opt/cockpit

step "ldd of the Qt xcb platform plugin"
python3 packaging/linux/check_bundle.py ldd /opt/cockpit

WORK=$(mktemp -d /tmp/cockpit-package-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -m 700 "$WORK/runtime"
# A clean user environment: a fresh home, no settings, no locale (the launcher must cope),
# no Qt variables from the caller.
run_clean() {
    (cd "$WORK" && env -i PATH=/usr/bin:/bin HOME="$WORK/home" \
        XDG_RUNTIME_DIR="$WORK/runtime" QT_QPA_PLATFORM=xcb "$@")
}
mkdir -p "$WORK/home"

smoke() {  # name, then the cockpit arguments
    local name=$1
    shift
    step "cockpit $* under Xvfb (xcb)"
    local rc=0
    run_clean xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" cockpit "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    cat "$WORK/$name.out"
    if [ -s "$WORK/$name.err" ]; then
        echo "-- stderr:"
        cat "$WORK/$name.err"
    fi
    [ "$rc" = 0 ] || fail "cockpit $* exited $rc"
    grep -q "smoke test passed; Qt xcb platform" "$WORK/$name.out" \
        || fail "cockpit $* did not report a passed smoke test on the xcb platform"
    python3 packaging/linux/stderr_allowlist.py "$WORK/$name.err"
    echo "ok   cockpit $*: passed on xcb, stderr clean"
}
smoke app app --smoke-test
smoke demo demo --smoke-test --duration 5

step "headless commands"
run_clean cockpit --version
SAMPLES=/opt/cockpit/_internal/sample_runs
run_clean cockpit import "$SAMPLES" --db "$WORK/q.duckdb" >/dev/null \
    || fail "cockpit import of the bundled sample runs failed"
run_clean cockpit query "SELECT count(*) AS n FROM runs" --db "$WORK/q.duckdb" --format json \
    | grep -Eq '"n": *[1-9]' || fail "cockpit query found no imported run"
run_clean cockpit doctor >"$WORK/doctor.out" 2>&1 || fail "cockpit doctor failed: $(cat "$WORK/doctor.out")"
grep -q "NVML bindings are not installed" "$WORK/doctor.out" \
    && fail "the bundle lacks pynvml (cockpit doctor: NVML bindings are not installed)"
rc=0
run_clean cockpit check "$SAMPLES" --json --db "$WORK/check.duckdb" >"$WORK/check.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "cockpit check on the bundled sample runs exited $rc: $(tail -3 "$WORK/check.out")"
EVAL=$(find "$SAMPLES/evals" -name '*.eval' | head -n1)
if [ -n "$EVAL" ]; then
    run_clean cockpit eval summary "$EVAL" --json >/dev/null || fail "cockpit eval summary $EVAL failed"
fi
echo "ok   --version, import, query, doctor, check and eval summary on the bundled samples"

step "sizes and start time (packaging/linux/measure_start.py)"
python3 packaging/linux/measure_start.py /opt/cockpit --runs "${RUNS:-5}" \
    --tarball "$TARBALL" --deb "$DEB" --json "$ROOT/build/package-metrics.json"

printf '\npackage-test: passed\n'
