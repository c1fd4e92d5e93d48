"""`cockpit doctor`: what this machine offers Cockpit, one line per subsystem; always exit 0.

NVML and the driver, each GPU (memory, power limit, MIG, GPM support), the host, the display
the desktop app would use, the history database (exists, writable, locked by whom) and the LLM
endpoint used by triage. An API key's presence is reported, never its value.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cockpit.cli.common import add_db_arg, db_path

GB = 1e9


@dataclass(slots=True)
class Finding:
    """One subsystem: `ok` is True (usable), False (not usable) or None (just information)."""

    name: str
    ok: bool | None
    summary: str
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


PROBE_TIMEOUT_S = 30.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="what this machine offers: NVML, GPUs, display, database, LLM")
    p.add_argument("--json", action="store_true", help="one JSON object with every finding")
    p.add_argument("--probe-display", action="store_true", help=argparse.SUPPRESS)
    add_db_arg(p)
    p.set_defaults(func=cmd_doctor)


def check_nvml(gateway: Any = None) -> tuple[Finding, Finding]:
    from cockpit.telemetry.nvml_gateway import NvmlGateway

    gateway = gateway or NvmlGateway()
    try:
        if not gateway.open():
            nvml = Finding("NVML", False, gateway.status)
            return nvml, Finding("GPUs", None, "none visible")
        versions = {
            "driver": gateway.driver_version(),
            "nvml": gateway.nvml_version(),
            "cuda": gateway.cuda_driver_version(),
        }
        shown = ", ".join(f"{k} {v}" for k, v in versions.items() if v)
        nvml = Finding("NVML", True, f"ok ({shown})", data=versions)
        lines, devices = [], []
        for info in gateway.devices():
            mem = "" if info.mem_total is None else f", {info.mem_total / GB:.1f} GB"
            power = "" if info.power_limit_w is None else f", power limit {info.power_limit_w:.0f} W"
            state = " LOST" if info.lost else ""
            lines.append(
                f"{info.index}: {info.name or 'unknown GPU'}{mem}{power}, "
                f"MIG {'on' if info.mig_enabled else 'off'}, "
                f"GPM (SM/tensor activity) {'yes' if info.gpm_supported else 'no'}{state}"
            )
            devices.append(asdict(info))
        gpus = Finding("GPUs", True, f"{len(lines)} visible", lines, {"devices": devices})
        return nvml, gpus
    finally:
        gateway.close()


def check_host() -> Finding:
    import psutil

    cores = psutil.cpu_count(logical=True) or 0
    ram = psutil.virtual_memory().total
    return Finding(
        "Host", None, f"{cores} CPU threads, {ram / GB:.1f} GB RAM",
        data={"cpu_threads": cores, "ram_bytes": ram},
    )


Probe = Callable[[Mapping[str, str]], tuple[bool, str]]


def check_display(env: Mapping[str, str], platform: str = sys.platform,
                  probe: Probe | None = None) -> Finding:
    """Which display the app would use, and on Linux whether Qt's platform plugin really
    loads there (a child process opens it: a DISPLAY that is set says nothing about the xcb
    plugin's libraries or whether the X server answers)."""
    names = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    values = {name: env.get(name) for name in names}
    shown = ", ".join(f"{k}={v}" for k, v in values.items() if v) or "none of " + "/".join(names)
    qpa = values["QT_QPA_PLATFORM"] or ""
    if not platform.startswith("linux"):
        return Finding("Display", True, f"native desktop ({platform})", data=values)
    if qpa in ("offscreen", "minimal"):
        return Finding(
            "Display", None, f"{shown}: the app renders off screen (tests, screenshots)", data=values
        )
    if values["DISPLAY"] or values["WAYLAND_DISPLAY"]:
        ok, said = (probe or probe_display)(env)
        data: dict[str, Any] = {**values, "plugin_loads": ok, "probe": said}
        if ok:
            return Finding("Display", True, f"{shown}: Qt opens it ({said})", data=data)
        return Finding("Display", False, f"{shown}: {said}", data=data)
    return Finding(
        "Display", False,
        f"{shown} set: `cockpit app` needs a desktop session; `cockpit watch` works headless",
        data=values,
    )


def probe_display(env: Mapping[str, str]) -> tuple[bool, str]:
    """(loaded, what happened) from a child that opens Qt's platform plugin."""
    command = ([sys.executable] if getattr(sys, "frozen", False)
               else [sys.executable, "-m", "cockpit"]) + ["doctor", "--probe-display"]
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False, f"opening the display did not finish in {PROBE_TIMEOUT_S:.0f} s"
    if done.returncode == 0 and done.stdout.startswith("platform "):
        return True, done.stdout.strip().removeprefix("platform ").strip()
    return False, explain_probe_failure(done.stderr, env)


def explain_probe_failure(stderr: str, env: Mapping[str, str]) -> str:
    """One sentence from what Qt printed before it gave up."""
    from cockpit.cli import qt_xcb

    text = stderr.lower()
    if "could not connect to display" in text:
        return f"no X server answers on DISPLAY={env.get('DISPLAY', '')}"
    if "platform plugin" in text or "xcb-cursor0" in text:
        missing = qt_xcb.missing_libraries()
        if missing:
            return (f"Qt's xcb plugin does not load: {', '.join(missing)} missing; "
                    f"run `{qt_xcb.install_line(qt_xcb.packages_for(missing))}`")
        return "Qt's platform plugin does not load (run with QT_DEBUG_PLUGINS=1 to see why)"
    last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
    return f"Qt could not open the display: {last or 'the probe failed'}"


def check_database(path: Path) -> Finding:
    from cockpit.store.db import StoreError, connect, schema_version

    data: dict[str, Any] = {"path": str(path)}
    if not path.exists():
        parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
        writable = parent is not None and os.access(parent, os.W_OK)
        data.update(exists=False, writable=writable)
        summary = f"{path}: not created yet; " + (
            "it can be created there" if writable else f"{parent} is not writable"
        )
        return Finding("Database", writable, summary, data=data)
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    data.update(exists=True, writable=writable, size_bytes=path.stat().st_size)
    try:
        con = connect(path, read_only=True)
    except StoreError as err:
        data["error"] = str(err)
        return Finding("Database", False, str(err), data=data)
    try:
        version = schema_version(con)
    finally:
        con.close()
    data["schema_version"] = version
    state = "writable" if writable else "read-only for this user"
    return Finding(
        "Database", writable,
        f"{path}: {path.stat().st_size / 1e6:.1f} MB, schema v{version}, {state}, not locked",
        data=data,
    )


def _redacted_url(url: str) -> str:
    """The endpoint without credentials or query string (they may hold a key)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_llm(env: Mapping[str, str]) -> Finding:
    base = env.get("OPENAI_BASE_URL") or ""
    has_key = bool(env.get("OPENAI_API_KEY"))
    endpoint = _redacted_url(base) if base else "https://api.openai.com/v1 (default)"
    key = "OPENAI_API_KEY set (not shown)" if has_key else "OPENAI_API_KEY not set"
    data = {"base_url": _redacted_url(base) if base else None, "api_key_set": has_key}
    if has_key or base:
        return Finding("LLM", True, f"{endpoint}; {key}", data=data)
    return Finding(
        "LLM", False, f"{endpoint}; {key}: `cockpit triage` runs with --offline", data=data
    )


def collect(db: Path, env: Mapping[str, str] | None = None, gateway: Any = None) -> list[Finding]:
    env = os.environ if env is None else env
    nvml, gpus = check_nvml(gateway)
    return [nvml, gpus, check_host(), check_display(env), check_database(db), check_llm(env)]


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.probe_display:
        from cockpit.ui.display_probe import probe

        return probe()
    findings = collect(db_path(args))
    if args.json:
        print(json.dumps({f.name.lower(): {"ok": f.ok, "summary": f.summary, **f.data}
                          for f in findings}, default=str))
        return 0
    marks = {True: "ok ", False: "-- ", None: "   "}
    for finding in findings:
        print(f"{marks[finding.ok]}{finding.name:<9} {finding.summary}")
        for line in finding.details:
            print(f"{'':13}{line}")
    return 0
