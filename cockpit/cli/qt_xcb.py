"""Whether Qt's xcb platform plugin can load here, and which Debian/Ubuntu packages it lacks.

PySide6's wheel ships Qt but not the X11/xcb libraries its xcb plugin links to; a fresh
Debian 12 desktop lacks several (libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, ...), and
then the app aborts at start with Qt's "could not load the Qt platform plugin". `make run`
asks this module first (`python -m cockpit.cli.qt_xcb --install`): it reads `ldd` of the
plugin, installs the missing packages when it runs as root with apt, or prints the one
`apt install` line to run and exits 1. `cockpit doctor` uses the same list to explain a
plugin that does not load. Standard library only; Qt is never imported here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The libraries the xcb plugin (and its GL integrations) load, with the Debian 12 / Ubuntu
# package that ships each (`dpkg -S`, bookworm). Others: Debian's naming rule.
PACKAGE_OF: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libdrm.so.2": "libdrm2",
}
PLUGINS = ("platforms/libqxcb.so", "xcbglintegrations/libqxcb-glx-integration.so",
           "xcbglintegrations/libqxcb-egl-integration.so")


def qt_plugins_dir() -> Path | None:
    """PySide6's Qt plugin folder, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins"
    return folder if folder.is_dir() else None


def missing_libraries(plugins_dir: Path | None = None) -> list[str]:
    """Sonames the xcb plugins need that the dynamic loader cannot find (sorted)."""
    plugins_dir = plugins_dir or qt_plugins_dir()
    if plugins_dir is None or shutil.which("ldd") is None:
        return []
    missing: set[str] = set()
    for rel in PLUGINS:
        plugin = plugins_dir / rel
        if not plugin.is_file():
            continue
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                             check=False).stdout
        for line in out.splitlines():
            name, sep, target = line.strip().partition("=>")
            if sep and target.strip().startswith("not found"):
                missing.add(name.strip())
    return sorted(missing)


def packages_for(sonames: list[str]) -> list[str]:
    return sorted({PACKAGE_OF.get(name) or guess_package(name) for name in sonames})


def guess_package(soname: str) -> str:
    """Debian's library package naming: libfoo.so.4 -> libfoo4, libfoo-x11.so.0 ->
    libfoo-x11-0 (a dash when the name ends in a digit)."""
    base, sep, version = soname.partition(".so.")
    if not sep:
        return soname
    major = version.split(".")[0]
    return (base + ("-" if base[-1:].isdigit() else "") + major).lower()


def install_line(packages: list[str]) -> str:
    return "sudo apt install " + " ".join(packages)


def _can_install() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install(packages: list[str]) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False,
                   stdout=subprocess.DEVNULL)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           *packages], env=env, check=False, stdout=subprocess.DEVNULL)
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cockpit.cli.qt_xcb",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--install", action="store_true",
                        help="as root with apt: install what is missing")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        return 0
    missing = missing_libraries()
    if not missing:
        return 0
    packages = packages_for(missing)
    print(f"Qt's xcb platform plugin needs {', '.join(missing)}, not installed here.",
          file=sys.stderr)
    if args.install and _can_install():
        print(f"installing {' '.join(packages)} with apt-get", file=sys.stderr)
        if _apt_install(packages) and not missing_libraries():
            return 0
        print("apt-get could not install them all.", file=sys.stderr)
    if shutil.which("apt-get") is None:
        print("Install your distribution's packages that provide them, then run again.",
              file=sys.stderr)
    else:
        print(f"Install them with:\n    {install_line(packages)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
