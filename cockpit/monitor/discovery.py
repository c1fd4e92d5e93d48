"""Finding runs under watched paths (SPEC §2).

A run is a folder holding at least one recognised log file; its name is the folder's path
relative to the watched root. Its other text logs (stdout captures with no metric lines) are
followed too, for the crash a traceback at their end reports. An MLflow run folder (`mlruns/<exp>/<run>`) is one run whose
metric files are its sources. Discovery is repeated while watching, so runs and files that
appear later are picked up live.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from cockpit.ingest.formats import detect_format, is_crash_log, not_a_metric_log
from cockpit.sources import LOCAL, ByteSource

SKIP_DIRS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints",
                       "checkpoints", ".cache"})
# W&B keeps each run in `wandb/run-<date>_<time>-<id>/` (`offline-run-...` offline); its
# history is the `run-<id>.wandb` log there, and `files/output.log` the console output.
_WANDB_RUN = re.compile(r"(?:offline-)?run-\d{8}_\d{6}-\w+")

# HF Trainer checkpoints: `checkpoint-N/`, and `last-checkpoint/` (hub_strategy="checkpoint").
_CHECKPOINT = re.compile(r"checkpoint-\d+|last-checkpoint")
# torch's `SummaryWriter.add_hparams` writes its own event file into `<logdir>/<time.time()>/`:
# the hyper-parameters of the run in <logdir>, not a run of their own.
_HPARAMS_CHILD = re.compile(r"\d{9,11}\.\d+")
_TFEVENTS = "events.out.tfevents."


@dataclass(slots=True)
class SourceSpec:
    path: PurePath
    format: str
    key: str | None = None  # MLflow: the metric a file holds
    identity: str = ""  # what the `sources` table calls it; the path unless the file moves

    def __post_init__(self) -> None:
        self.identity = self.identity or str(self.path)

    def fmt_needs_key(self) -> bool:
        return self.key is not None


@dataclass(slots=True)
class RunSpec:
    run_id: str
    name: str
    path: PurePath
    root: PurePath
    sources: list[SourceSpec] = field(default_factory=list)
    mlflow: bool = False
    source: ByteSource = LOCAL  # where the run's files are read from


def run_id_for(path: PurePath, source: ByteSource = LOCAL) -> str:
    """Stable id of a run folder: the same folder is the same run across imports."""
    where = str(Path(path).resolve()) if source is LOCAL else f"{source.name}{path}"
    return hashlib.sha1(where.encode()).hexdigest()[:16]


def identity_of(path: PurePath, source: ByteSource = LOCAL) -> str:
    """What the `sources` table calls a file: its path here, its URL elsewhere (a remote
    /runs/a/metrics.jsonl is another file than the local one)."""
    return str(path) if source is LOCAL else source.url(path)


def _run_name(run_dir: PurePath, root: PurePath, source: ByteSource = LOCAL) -> str:
    try:
        if source is LOCAL:
            rel: PurePath = Path(run_dir).resolve().relative_to(Path(root).resolve())
        else:
            rel = run_dir.relative_to(root)
    except ValueError:
        return run_dir.name
    return run_dir.name if str(rel) == "." else rel.as_posix()


def _mlflow_run(run_dir: PurePath, root: PurePath, source: ByteSource) -> RunSpec | None:
    from cockpit.ingest.mlflow_store import is_mlflow_run_dir, mlflow_metric_files

    if not is_mlflow_run_dir(run_dir, source):
        return None
    spec = RunSpec(run_id_for(run_dir, source), _run_name(run_dir, root, source), run_dir, root,
                   mlflow=True, source=source)
    for file, key in mlflow_metric_files(run_dir, source):
        spec.sources.append(SourceSpec(file, "mlflow", key))
    return spec


def _newest_state(here: PurePath, checkpoints: list[str], source: ByteSource) -> PurePath | None:
    """The trainer_state.json written last: the highest step's, `last-checkpoint/` when it is
    newer (it is the copy of the latest checkpoint the Hub push keeps)."""
    found: list[tuple[int, int, PurePath]] = []
    for name in checkpoints:
        state = here / name / "trainer_state.json"
        try:
            mtime = source.stat(state).mtime_ns
        except OSError:
            continue
        number = int(name.split("-")[1]) if name.startswith("checkpoint-") else -1
        found.append((mtime, number, state))
    return max(found)[2] if found else None


def _wandb_sources(here: PurePath, filenames: list[str], source: ByteSource) -> list[SourceSpec]:
    found = [SourceSpec(here / f, "wandb") for f in sorted(filenames)
             if f.startswith("run-") and f.endswith(".wandb")]
    console = here / "files" / "output.log"
    if found and source.is_file(console) and detect_format(console, source) == "text":
        found.append(SourceSpec(console, "text"))
    return found


def _hparams_sources(folder: PurePath, source: ByteSource) -> list[SourceSpec]:
    try:
        _, _, files = next(iter(source.walk(folder)))
    except (StopIteration, OSError):
        return []
    return [SourceSpec(folder / f, "tfevents") for f in sorted(files) if f.startswith(_TFEVENTS)]


Detect = Callable[[PurePath, ByteSource], "str | None"]


class FormatCache:
    """`detect_format` that remembers: a file's format once known, and a file that is not a
    log until it changes, so a repeated discovery reads no file it has sniffed before."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, PurePath], str] = {}
        # (inode, size, mtime_ns) of files that were not logs when last sniffed
        self._not_logs: dict[tuple[int, PurePath], tuple[int, int, int]] = {}

    def detect(self, path: PurePath, source: ByteSource = LOCAL) -> str | None:
        key = (id(source), path)
        fmt = self._known.get(key)
        if fmt is not None:
            return fmt
        try:
            st = source.stat(path)
        except OSError:
            return None
        seen = (st.inode, st.size, st.mtime_ns)
        if self._not_logs.get(key) == seen:
            return None
        fmt = detect_format(path, source)
        if fmt is None:
            self._not_logs[key] = seen
        else:
            self._known[key] = fmt
            self._not_logs.pop(key, None)
        return fmt


@dataclass(slots=True)
class Unread:
    """A folder or file discovery could not read, or a log-like file it could not recognise."""

    path: str
    reason: str
    unreadable: bool = True  # False: readable, but not a log Cockpit recognises


# Names of files that are meant to be metric logs: one that is not recognised is said so.
_LOG_SUFFIXES = (".jsonl", ".ndjson", ".csv")


def discover(root: PurePath, source: ByteSource = LOCAL,
             unread: list[Unread] | None = None, detect: Detect = detect_format) -> list[RunSpec]:
    """Every run under `root` (a folder, or a single log file whose folder is the run),
    listed and sniffed through `source` (`detect` decides each file's format). Paths stay the source's own (a remote path is never
    a local `Path`, so nothing can read it from this machine by mistake). Folders and files
    that could not be read, and metric-log names whose content is not one, are added to
    `unread`."""
    root = Path(root) if source is LOCAL else root
    problems: list[Unread] = unread if unread is not None else []
    if source.is_file(root):
        fmt = detect(root, source)
        if fmt is None:
            _not_a_log(root, source, problems, named=True)
            return []
        run_dir = root.parent
        return _qualified([RunSpec(run_id_for(run_dir, source), run_dir.name, run_dir, run_dir,
                                   [SourceSpec(root, fmt)], source=source)], source)
    runs: list[RunSpec] = []
    pending: set[PurePath] = {root}  # folders listed by their parent and not yet walked
    for dirpath, dirnames, filenames in source.walk(root):
        here = dirpath
        pending.discard(here)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if "meta.yaml" in filenames and "metrics" in dirnames:
            mlflow = _mlflow_run(here, root, source)
            if mlflow is not None:
                runs.append(mlflow)
                dirnames[:] = []
                continue
        if here.name == "wandb":  # only W&B's run folders (not latest-run, its debug logs)
            dirnames[:] = [d for d in dirnames if _WANDB_RUN.fullmatch(d)]
            continue
        if here.parent.name == "wandb" and _WANDB_RUN.fullmatch(here.name):
            dirnames[:] = []
            wandb = _wandb_sources(here, filenames, source)
            if wandb:
                runs.append(RunSpec(run_id_for(here, source), _run_name(here, root, source), here,
                                    root, wandb, source=source))
            continue
        sources = []
        checkpoints = [d for d in dirnames if _CHECKPOINT.fullmatch(d)]
        if checkpoints and "trainer_state.json" not in filenames:
            # HF Trainer keeps trainer_state.json in checkpoint-N/ (and last-checkpoint/): follow
            # the newest one as the parent run's source; they are never runs of their own.
            state = _newest_state(here, checkpoints, source)
            if state is not None:
                sources.append(SourceSpec(state, "hf_state",
                                          identity=str(here / "checkpoint-*" / "trainer_state.json")))
        dirnames[:] = [d for d in dirnames if not _CHECKPOINT.fullmatch(d)]
        stdout_logs = []
        for filename in sorted(filenames):
            fmt = detect(here / filename, source)
            if fmt is not None:
                sources.append(SourceSpec(here / filename, fmt))
            elif is_crash_log(here / filename):
                stdout_logs.append(SourceSpec(here / filename, "text"))
            elif filename.lower().endswith(_LOG_SUFFIXES) and not not_a_metric_log(filename):
                _not_a_log(here / filename, source, problems)
        if any(f.startswith(_TFEVENTS) for f in filenames):
            for child in [d for d in dirnames if _HPARAMS_CHILD.fullmatch(d)]:
                dirnames.remove(child)
                sources += _hparams_sources(here / child, source)
        if sources:
            # Every text log of a run is read for crash markers, metric lines or not.
            sources += stdout_logs
            runs.append(RunSpec(run_id_for(here, source), _run_name(here, root, source), here, root,
                                sources, source=source))
        pending.update(here / d for d in dirnames if not _is_link(here / d, source))
    # A folder that was listed but never walked could not be opened (os.walk skips it).
    problems.extend(Unread(str(p), "cannot be listed") for p in sorted(pending))
    return _qualified(runs, source)


def _qualified(runs: list[RunSpec], source: ByteSource) -> list[RunSpec]:
    """Files elsewhere than here are named by their URL in the `sources` table (a remote
    /runs/a/metrics.jsonl is another file than the local one)."""
    if source is not LOCAL:
        for run in runs:
            for src in run.sources:
                if not src.identity.startswith(source.name):
                    src.identity = identity_of(PurePath(src.identity), source)
    return runs


def _is_link(path: PurePath, source: ByteSource) -> bool:
    return source is LOCAL and Path(path).is_symlink()  # os.walk lists links, does not follow


def _not_a_log(path: PurePath, source: ByteSource, problems: list[Unread],
               named: bool = False) -> None:
    """Say why a file that was named, or is named like a metric log, was not read (a remote
    file is not opened for it: discovery repeats every few seconds)."""
    if source is LOCAL:
        try:
            source.open(path).close()
        except OSError as err:
            problems.append(Unread(str(path), f"cannot be read ({err.strerror or err})"))
            return
    if named or path.name.lower().endswith(_LOG_SUFFIXES):
        problems.append(Unread(str(path), "holds no metrics Cockpit recognises", unreadable=False))
