"""Size of the bundle and start time of the frozen app to its first window, on a real X server.

    python3 packaging/linux/measure_start.py /opt/cockpit [--runs 5] [--json OUT]

Start time = from spawning the executable to the moment its main window is mapped and
viewable on Xvfb (the X server's MapNotify event, read through libX11: no polling). The app watches an empty folder with a fresh database, no GPU telemetry.
"cold" runs first evict the bundle's files and the system libraries its Qt plugin loads
from the page cache (posix_fadvise DONTNEED: dropping all caches is not allowed in a
container), so they read from disk as a first start after boot would; "warm" runs do not.
Also timed: `cockpit --version` (bootloader + Python, no Qt) and the whole `--smoke-test`.
CPU seconds (user + system, all threads, at the moment the window shows) are reported beside
wall seconds: on a shared 2-core machine other work stretches wall time, not CPU time.
Needs Xvfb (package-test installs it). Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib.util
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def _elf_deps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("elf_deps", HERE.parent / "elf_deps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree_size(root: Path) -> int:
    """Bytes in regular files (symlinks counted once, as their targets are)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def evict(paths: list[Path]) -> None:
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cold_files(bundle: Path) -> list[Path]:
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    elf = _elf_deps()
    xcb = bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    for lib in elf.ldd(xcb, [bundle / "_internal"]).values():
        if lib is not None and elf.is_system_path(lib):
            files.append(Path(os.path.realpath(lib)))
    return files


class Xvfb:
    """A private X server on a free display number."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    def __enter__(self) -> Xvfb:
        for number in range(90, 140):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.display = f":{number}"
            self.proc = subprocess.Popen(
                ["Xvfb", self.display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if Path(f"/tmp/.X11-unix/X{number}").exists():
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            self.proc.kill()
        raise RuntimeError("could not start Xvfb")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class MapWatcher:
    """Tells when a top-level window whose name holds `title` is mapped: listens to the X
    server's MapNotify events on the root window (libX11 via ctypes), so nothing polls and
    the measurement costs the app no CPU. Without a window manager (Xvfb) top-level windows
    are the root's children, so mapped = shown."""

    MAP_NOTIFY = 19
    SUBSTRUCTURE_NOTIFY_MASK = 1 << 19

    def __init__(self, display: str, title: str = "Cockpit") -> None:
        self.x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x11.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
        self.x11.XConnectionNumber.argtypes = [ctypes.c_void_p]
        self.x11.XPending.argtypes = [ctypes.c_void_p]
        self.x11.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.x11.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                        ctypes.POINTER(ctypes.c_char_p)]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.dpy = self.x11.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {display}")
        root = self.x11.XDefaultRootWindow(self.dpy)
        self.x11.XSelectInput(self.dpy, root, self.SUBSTRUCTURE_NOTIFY_MASK)
        self.x11.XFlush(self.dpy)
        self.title = title.encode()
        self.event = (ctypes.c_long * 24)()  # XEvent is a 192-byte union

    def _name(self, window: int) -> bytes:
        name = ctypes.c_char_p()
        if self.x11.XFetchName(self.dpy, window, ctypes.byref(name)) and name.value:
            return name.value
        return b""

    def wait(self, timeout: float) -> bool:
        """True once a matching window maps (names can arrive a moment after the map)."""
        deadline = time.perf_counter() + timeout
        fd = self.x11.XConnectionNumber(self.dpy)
        mapped: list[int] = []
        while time.perf_counter() < deadline:
            while self.x11.XPending(self.dpy):
                self.x11.XNextEvent(self.dpy, self.event)
                if ctypes.c_int.from_buffer(self.event).value == self.MAP_NOTIFY:
                    mapped.append(self.event[5])  # XMapEvent.window, after type..event
            if any(self.title in self._name(w) for w in mapped):
                return True
            select.select([fd], [], [], 0.005 if mapped else 0.05)
        return False

    def close(self) -> None:
        self.x11.XCloseDisplay(self.dpy)


def app_env(display: str, home: Path) -> dict[str, str]:
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "XDG_"))}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", HOME=str(home),
               XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"))
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_window(exe: Path, display: str, timeout: float = 60.0) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the app) from spawn to its window being viewable."""
    with tempfile.TemporaryDirectory(prefix="cockpit-start-") as tmp:
        home = Path(tmp)
        (home / "runs").mkdir()
        watcher = MapWatcher(display)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "app", str(home / "runs"), "--db", str(home / "history.duckdb"),
             "--no-gpu", "--settings", str(home / "settings.ini")],
            env=app_env(display, home), cwd=tmp, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            while not watcher.wait(0.2):
                if proc.poll() is not None:
                    raise RuntimeError(f"the app exited ({proc.returncode}) before its window")
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"no window after {timeout:.0f} s")
            return time.perf_counter() - start, cpu_seconds(proc.pid)
        finally:
            watcher.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def time_command(args: list[str], display: str) -> float:
    with tempfile.TemporaryDirectory(prefix="cockpit-start-") as tmp:
        start = time.perf_counter()
        subprocess.run(args, env=app_env(display, Path(tmp)), cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def summary(values: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3), "runs": len(values)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="the onedir bundle, e.g. /opt/cockpit")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tarball", type=Path, help="the tar.gz to report the size of")
    parser.add_argument("--deb", type=Path, help="the .deb to report the size of")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    exe = args.bundle / "cockpit"
    if shutil.which("Xvfb") is None:
        print("Xvfb is not installed (apt-get install xvfb)", file=sys.stderr)
        return 2
    result: dict[str, object] = {"bundle": str(args.bundle),
                                 "unpacked_mb": round(tree_size(args.bundle) / 1e6, 1)}
    for key, path in (("tar_gz_mb", args.tarball), ("deb_mb", args.deb)):
        if path is not None and path.is_file():
            result[key] = round(path.stat().st_size / 1e6, 1)
    if args.tarball is not None and args.tarball.is_file():
        with tarfile.open(args.tarball) as tar:
            result["files"] = sum(1 for m in tar.getmembers() if m.isfile())
    files = cold_files(args.bundle)
    with Xvfb() as x:
        cold, warm = [], []
        for _ in range(args.runs):
            evict(files)
            cold.append(time_to_window(exe, x.display))
        for _ in range(args.runs):
            warm.append(time_to_window(exe, x.display))
        load = os.getloadavg()[0]
        version = [time_command([str(exe), "--version"], x.display) for _ in range(args.runs)]
        smoke = [time_command([str(exe), "app", "--smoke-test"], x.display) for _ in range(3)]
    result["first_window_cold"] = summary([wall for wall, _ in cold])
    result["first_window_warm"] = summary([wall for wall, _ in warm])
    result["first_window_cpu_cold"] = summary([cpu for _, cpu in cold])
    result["first_window_cpu_warm"] = summary([cpu for _, cpu in warm])
    # Other work on the machine stretches wall times; the CPU times above do not depend on it.
    result["load_average_1min"] = round(load, 2)
    result["cores"] = os.cpu_count() or 0
    result["version_warm"] = summary(version)
    result["smoke_test_warm"] = summary(smoke)
    for key, value in result.items():
        print(f"{key:18} {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
