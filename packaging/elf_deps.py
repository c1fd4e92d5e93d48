"""Which shared libraries an ELF file loads, and where they resolve: `ldd`, parsed.

Used by the spec (to leave the desktop stack to the system) and by package-test (to check
the installed Qt xcb plugin resolves every library and the .deb's Depends cover them).
Standard library only: it runs under the build venv and under the system python3.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

# Where the OS keeps its libraries. A library resolved here comes from a Debian package.
SYSTEM_LIB_DIRS: tuple[str, ...] = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def parse_ldd(text: str) -> dict[str, str | None]:
    """`ldd` output -> {soname: resolved path, or None when 'not found'}.

    The vdso and the dynamic loader's own line (no '=>') are skipped, except a loader given
    as an absolute path, which is returned under its own name.
    """
    libs: dict[str, str | None] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if "=>" in line:
            name, _, target = line.partition("=>")
            target = target.strip()
            if target.startswith("not found"):
                libs[name.strip()] = None
            elif target.startswith("/"):
                libs[name.strip()] = target.split(" (")[0].strip()
        elif line.startswith("/"):
            path = line.split(" (")[0].strip()
            libs[os.path.basename(path)] = path
    return libs


def ldd(path: Path, library_path: Iterable[Path] = ()) -> dict[str, str | None]:
    """The libraries `path` loads (transitively), resolved as the dynamic loader would."""
    env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
    dirs = [str(p) for p in library_path]
    if dirs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(dirs)
    result = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env,
                            check=False)
    if result.returncode != 0 and "not a dynamic executable" in result.stderr + result.stdout:
        return {}
    return parse_ldd(result.stdout)


def is_system_path(path: str) -> bool:
    real = os.path.realpath(path)
    return any(real.startswith(prefix) for prefix in SYSTEM_LIB_DIRS)


def system_closure(files: Iterable[Path]) -> set[str]:
    """Real paths of the OS libraries that `files` load, transitively."""
    found: set[str] = set()
    for file in files:
        for resolved in ldd(file).values():
            if resolved is not None and is_system_path(resolved):
                found.add(os.path.realpath(resolved))
    return found
