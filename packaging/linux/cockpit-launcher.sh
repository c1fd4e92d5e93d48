#!/bin/sh
# /usr/bin/cockpit: starts the bundle installed under /opt/cockpit. A script rather than a
# symlink, so the bundle finds its _internal/ folder whatever the caller's PATH and cwd.
# Qt needs a UTF-8 locale (under C/POSIX it warns on stderr and switches to C.UTF-8 itself).
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
    *[Uu][Tt][Ff]-8* | *[Uu][Tt][Ff]8*) ;;
    *) [ -n "${LC_ALL:-}" ] || export LC_CTYPE=C.UTF-8 ;;
esac
exec /opt/cockpit/cockpit "$@"
