"""Checks of a built or installed Linux bundle, run by `make package` and `make package-test`.

    python3 packaging/linux/check_bundle.py forbidden BUNDLE
    python3 packaging/linux/check_bundle.py ldd BUNDLE [PLUGIN...]
    python3 packaging/linux/check_bundle.py depends BUNDLE CONTROL_FILE
    python3 packaging/linux/check_bundle.py control-depends CONTROL_FILE

forbidden: no training stack or dev tool (packaging/bundle_rules.py NEVER_BUNDLED) is in it.
ldd:       the Qt plugins (default: the xcb platform plugin and its GL integrations) resolve
           every library, with the library path the bundle's bootloader sets.
depends:   every OS library any ELF file of the bundle loads belongs to a package that the
           .deb's Depends pull in (directly or through their own Depends), so a machine that
           installs the .deb with apt gets everything, whatever it had before.
control-depends: print the package names in a control file's Depends, one a line.
Exit status 0 = passed; each failure is one line on stderr. Standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

PACKAGING = Path(__file__).resolve().parent.parent
XCB_PLUGINS = (
    "platforms/libqxcb.so",
    "xcbglintegrations/libqxcb-glx-integration.so",
    "xcbglintegrations/libqxcb-egl-integration.so",
)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


elf = _load("elf_deps")
rules = _load("bundle_rules")


def internal_dir(bundle: Path) -> Path:
    """PyInstaller >= 6 keeps everything but the executable in _internal/."""
    inner = bundle / "_internal"
    return inner if inner.is_dir() else bundle


def qt_plugins_dir(bundle: Path) -> Path:
    return internal_dir(bundle) / "PySide6" / "Qt" / "plugins"


def check_forbidden(bundle: Path) -> list[str]:
    banned = {name.lower() for name in rules.NEVER_BUNDLED}
    problems = []
    for path in internal_dir(bundle).iterdir():
        stem = path.name.split(".")[0].split("-")[0].lower()
        if stem in banned:
            problems.append(f"{path} is in the bundle but must never be shipped")
    return problems


def check_ldd(bundle: Path, plugins: list[str]) -> list[str]:
    problems = []
    for rel in plugins:
        plugin = qt_plugins_dir(bundle) / rel
        if not plugin.is_file():
            problems.append(f"{plugin} is missing from the bundle")
            continue
        libs = elf.ldd(plugin, [internal_dir(bundle)])
        if not libs:
            problems.append(f"ldd could not read {plugin}")
        missing = sorted(name for name, path in libs.items() if path is None)
        for name in missing:
            problems.append(f"{plugin.name} needs {name}, which is not found")
        if not missing:
            print(f"ok   {rel}: all {len(libs)} libraries resolve")
    return problems


def elf_files(bundle: Path) -> list[Path]:
    return [p for p in sorted(bundle.rglob("*"))
            if p.is_file() and not p.is_symlink() and elf.is_elf(p)]


def owning_package(lib: str) -> str | None:
    """The Debian package that installed `lib` (usrmerge: /lib and /usr/lib are one)."""
    candidates = [lib, os.path.realpath(lib)]
    for path in list(candidates):
        if path.startswith("/usr/lib/"):
            candidates.append(path[len("/usr"):])
        elif path.startswith("/lib/"):
            candidates.append("/usr" + path)
    for path in candidates:
        result = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True,
                                check=False)
        if result.returncode == 0 and result.stdout:
            return result.stdout.split(":", 1)[0].strip()
    return None


def control_depends(control: Path) -> list[str]:
    """Package names in the control file's Depends (alternatives all count; versions dropped)."""
    text = control.read_text(encoding="utf-8")
    found = re.search(r"^Depends:(.*(?:\n[ \t].*)*)", text, re.MULTILINE)
    if found is None:
        return []
    names = []
    for clause in found.group(1).replace("\n", " ").split(","):
        for alternative in clause.split("|"):
            name = alternative.strip().split(" ")[0].split("(")[0].strip()
            if name:
                names.append(name)
    return names


def parse_apt_depends(text: str) -> set[str]:
    """Package names in `apt-cache depends --recurse` output: each package visited and each
    Depends/PreDepends target (alternatives included; virtual names as written)."""
    names: set[str] = set()
    for line in text.splitlines():
        stripped = line.strip().lstrip("|")
        if not stripped:
            continue
        if not line.startswith(" "):
            names.add(stripped.strip("<>").split(":")[0])
        elif stripped.startswith(("Depends:", "PreDepends:")):
            names.add(stripped.split(":", 1)[1].strip().strip("<>").split(":")[0])
    return names


def dependency_closure(packages: list[str]) -> set[str]:
    """The packages apt installs for `packages` (Depends and Pre-Depends, recursively)."""
    result = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
        capture_output=True, text=True, check=False)
    return set(packages) | parse_apt_depends(result.stdout)


def check_depends(bundle: Path, control: Path) -> list[str]:
    depends = control_depends(control)
    if not depends:
        return [f"{control} has no Depends field"]
    closure = dependency_closure(depends)
    needed: dict[str, set[str]] = {}  # system library -> bundle files loading it
    missing: dict[str, set[str]] = {}
    for file in elf_files(bundle):
        for name, path in elf.ldd(file, [internal_dir(bundle)]).items():
            if path is None:
                missing.setdefault(name, set()).add(file.name)
            elif elf.is_system_path(path):
                needed.setdefault(path, set()).add(file.name)
    problems = [f"{name} (needed by {', '.join(sorted(users)[:3])}) is not found on this "
                "machine: install its package and add it to Depends"
                for name, users in sorted(missing.items())]
    packages: dict[str, str] = {}
    for lib in sorted(needed):
        package = owning_package(lib)
        if package is None:
            problems.append(f"{lib} belongs to no installed package")
            continue
        packages[lib] = package.split(":")[0]
        if packages[lib] not in closure:
            problems.append(f"{lib} comes from {packages[lib]}, which the .deb's Depends do "
                            f"not pull in (needed by {', '.join(sorted(needed[lib])[:3])})")
    if not problems:
        print(f"ok   Depends cover the {len(needed)} system libraries the bundle loads "
              f"(from {len(set(packages.values()))} packages)")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "control-depends":
        print("\n".join(control_depends(Path(argv[1]))))
        return 0
    if len(argv) < 2 or argv[0] not in ("forbidden", "ldd", "depends"):
        print(__doc__, file=sys.stderr)
        return 2
    command, bundle = argv[0], Path(argv[1])
    if not (bundle / "cockpit").is_file():
        print(f"{bundle} holds no cockpit bundle (no {bundle / 'cockpit'})", file=sys.stderr)
        return 2
    if command == "forbidden":
        problems = check_forbidden(bundle)
        if not problems:
            print("ok   no training stack or dev tool in the bundle")
    elif command == "ldd":
        problems = check_ldd(bundle, argv[2:] or list(XCB_PLUGINS))
    else:
        if len(argv) != 3:
            print("depends needs BUNDLE and CONTROL_FILE", file=sys.stderr)
            return 2
        problems = check_depends(bundle, Path(argv[2]))
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
