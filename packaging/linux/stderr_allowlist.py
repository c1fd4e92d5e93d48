"""Which lines the frozen app may print on stderr during package-test's smoke tests.

    python3 packaging/linux/stderr_allowlist.py STDERR_FILE

Exit 1, printing each offending line, if the file holds a Qt plugin error or any line not
on the allowlist below. The allowlist is short on purpose: every entry says why it is
harmless. A smoke test on the real xcb platform prints nothing at all on stderr today.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Lines that are never acceptable, even if an allowlist entry would match them: the
# platform plugin or a library failing to load, or Python dying.
FATAL = re.compile(
    r"qt\.qpa\.plugin|Could not (load|find) the Qt platform plugin|This application failed "
    r"to start|Cannot load library|cannot open shared object file|undefined symbol|"
    r"Traceback \(most recent call last\)|Fatal Python error|Segmentation fault|Aborted",
    re.IGNORECASE)

ALLOWED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^cockpit demo: watching \S.* replays live over \d+ s \(database .*\)$"),
     "`cockpit demo` says on stderr which folder and database it uses (by design)"),
)


def unexpected_lines(text: str) -> list[str]:
    bad = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if FATAL.search(line) or not any(pattern.search(line) for pattern, _ in ALLOWED):
            bad.append(line)
    return bad


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    text = Path(argv[0]).read_text(encoding="utf-8", errors="replace")
    bad = unexpected_lines(text)
    for line in bad:
        print(f"FAIL unexpected stderr line: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
