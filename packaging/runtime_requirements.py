"""The requirements of the build venv: pyproject's [project.dependencies], nothing else.

    python3 packaging/runtime_requirements.py               # print them, one a line
    build/pkg-venv/bin/python packaging/runtime_requirements.py --check-venv

--check-venv fails if the running environment can import any module that must never be
bundled (packaging/bundle_rules.py NEVER_BUNDLED), e.g. because someone pip-installed torch
into the build venv by hand. Standard library only (tomllib: Python >= 3.11).
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    with open(pyproject, "rb") as f:
        data = tomllib.load(f)
    return list(data["project"]["dependencies"])


def importable_forbidden() -> list[str]:
    spec = importlib.util.spec_from_file_location("bundle_rules",
                                                  ROOT / "packaging" / "bundle_rules.py")
    assert spec is not None and spec.loader is not None
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    # Only third-party names: setuptools/pip always sit in a venv and are excluded anyway.
    names = [n for n in rules.NEVER_BUNDLED if n not in ("setuptools", "pip", "tkinter",
                                                         "_tkinter")]
    return [name for name in names if importlib.util.find_spec(name) is not None]


def main(argv: list[str]) -> int:
    if argv == ["--check-venv"]:
        found = importable_forbidden()
        if found:
            print(f"the build venv {sys.prefix} holds {', '.join(found)}, which must never be "
                  "bundled: delete it and run `make package` again", file=sys.stderr)
            return 1
        print(f"package: build venv {sys.prefix} holds no training stack or dev tool")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(runtime_requirements()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
