"""`cockpit demo`: the app on the bundled sample runs, with a throwaway database, replayed H100
telemetry, and one run replayed line by line that goes bad, so a new user sees a collapse
caught live within a minute. Qt-free: the command wires this to the app.

The finished sample runs are copied into a temp folder (never written in place); the run
chosen to go bad is left out of the copy and re-written there line by line by `LineReplayer`,
with wall-clock fields set to the moment each line is written.
"""

from __future__ import annotations

import heapq
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Run folders whose names say they go bad, best first: the demo replays the first found.
GOES_BAD = ("diverg", "collapse", "spike", "explod", "nan", "oom", "leak", "unstable")
# Files replayed line by line; everything else of the live run is left out (binary
# tfevents, whole-file JSON) because it would reveal the end at once.
LINE_SUFFIXES = (".jsonl", ".log", ".txt", ".csv")
TELEMETRY_FILES = ("gpu_trace.jsonl", "gpu_procs.jsonl")
TIME_KEYS = ("time", "timestamp", "ts", "_timestamp", "wall_time", "walltime")
NOT_RUNS = ("gpu_replay", "evals")


class DemoError(Exception):
    """The demo cannot start (no sample runs found): one sentence."""


@dataclass(slots=True)
class DemoPlan:
    workdir: Path
    db_path: Path
    root: Path  # the watched folder
    live_name: str  # the run that goes bad, as it appears under `root`
    live_source: Path  # where its complete files are
    gpu_replay: Path | None
    evals: list[Path] = field(default_factory=list)
    owns_workdir: bool = True

    def cleanup(self) -> None:
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def find_sample_runs(start: Path | None = None) -> Path | None:
    """sample_runs/ in the working directory or beside the installed package (a checkout)."""
    candidates = [Path.cwd() / "sample_runs", Path(__file__).resolve().parent.parent / "sample_runs"]
    if start is not None:
        candidates.insert(0, start)
    for path in candidates:
        if path.is_dir() and any(_run_dirs(path)):
            return path
    return None


def _run_dirs(root: Path) -> Iterator[Path]:
    """Folders directly under `root` that hold a log file (one level: sample_runs is flat)."""
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name in NOT_RUNS or child.name.startswith("."):
            continue
        if any(f.is_file() and not f.name.startswith(".") for f in child.rglob("*")):
            yield child


def pick_live_run(root: Path, wanted: str | None = None) -> Path:
    runs = list(_run_dirs(root))
    if not runs:
        raise DemoError(f"{root} holds no run folders")
    if wanted:
        for run in runs:
            if run.name == wanted:
                return run
        raise DemoError(f"{root} has no run named {wanted!r}")
    for word in GOES_BAD:
        for run in runs:
            if word in run.name.lower() and any(_line_files(run)):
                return run
    return runs[0]


def _line_files(run: Path) -> list[Path]:
    return sorted(f for f in run.rglob("*") if f.is_file() and f.suffix.lower() in LINE_SUFFIXES
                  and f.name not in TELEMETRY_FILES)


def prepare(sample_runs: Path, workdir: Path | None = None, live: str | None = None) -> DemoPlan:
    """Copy the sample runs (minus the live one) into a temp folder with an empty database."""
    if not sample_runs.is_dir():
        raise DemoError(f"{sample_runs} is not a folder of sample runs")
    live_source = pick_live_run(sample_runs, live)
    owns = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="cockpit-demo-")) if workdir is None else workdir
    root = workdir / "runs"
    root.mkdir(parents=True, exist_ok=True)
    for run in _run_dirs(sample_runs):
        if run != live_source:
            shutil.copytree(run, root / run.name, dirs_exist_ok=True)
    gpu = sample_runs / "gpu_replay"
    if not (gpu / "gpu_trace.jsonl").is_file():
        gpu_candidates = [f.parent for f in sample_runs.rglob("gpu_trace.jsonl")]
        gpu = gpu_candidates[0] if gpu_candidates else Path()
    evals = sample_runs / "evals"
    return DemoPlan(
        workdir=workdir,
        db_path=workdir / "demo.duckdb",
        root=root,
        live_name=f"live-{live_source.name}",
        live_source=live_source,
        gpu_replay=gpu if gpu != Path() else None,
        evals=[evals] if evals.is_dir() else [],
        owns_workdir=owns,
    )


def _stamp(line: str, now: float) -> str:
    """A JSONL line with its wall-clock fields set to `now` (NaN tokens survive)."""
    text = line.strip()
    if not text.startswith("{"):
        return line
    try:
        obj = json.loads(text)
    except ValueError:
        return line
    if not isinstance(obj, dict):
        return line
    changed = False
    for key in TIME_KEYS:
        value = obj.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 1e9:
            obj[key] = now
            changed = True
    return json.dumps(obj) + "\n" if changed else line


class LineReplayer:
    """Writes a run's log files into the watched folder line by line over `duration_s`.

    Every file is spread over the same duration, so a metrics JSONL and a text log that
    describe the same steps stay roughly in step with each other.
    """

    def __init__(self, source: Path, target: Path, duration_s: float = 45.0,
                 tick_s: float = 0.05) -> None:
        self.source = source
        self.target = target
        self.duration_s = duration_s
        self.tick_s = tick_s
        self.lines_written = 0
        self.lines_total = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def schedule(self) -> list[tuple[float, int, Path, str]]:
        """(seconds from start, file order, target file, line) for every line to write."""
        out: list[tuple[float, int, Path, str]] = []
        for order, src in enumerate(_line_files(self.source)):
            try:
                lines = src.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True)
            except OSError:
                continue
            dest = self.target / src.relative_to(self.source)
            n = max(len(lines), 1)
            for i, line in enumerate(lines):
                out.append((self.duration_s * i / n, order, dest, line))
        out.sort(key=lambda item: (item[0], item[1]))
        return out

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="cockpit-demo-replay",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run(self) -> None:
        plan = self.schedule()
        self.lines_total = len(plan)
        self.target.mkdir(parents=True, exist_ok=True)
        handles: dict[Path, object] = {}
        start = time.monotonic()
        queue = list(plan)
        heapq.heapify(queue)
        try:
            while queue and not self._stop.is_set():
                elapsed = time.monotonic() - start
                due = []
                while queue and queue[0][0] <= elapsed:
                    due.append(heapq.heappop(queue))
                now = time.time()
                touched = set()
                for _, _, dest, line in due:
                    handle = handles.get(dest)
                    if handle is None:
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        handle = handles[dest] = dest.open("a", encoding="utf-8")
                    handle.write(_stamp(line, now))  # type: ignore[attr-defined]
                    touched.add(dest)
                    self.lines_written += 1
                for dest in touched:
                    handles[dest].flush()  # type: ignore[attr-defined]
                if queue:
                    self._stop.wait(max(min(queue[0][0] - (time.monotonic() - start),
                                            self.tick_s), 0.0))
        finally:
            for handle in handles.values():
                handle.close()  # type: ignore[attr-defined]
            self.done.set()
