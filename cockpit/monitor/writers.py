"""Which process writes which run: matched from a process source's facts, for any host.

A process belongs to a run when it holds one of the run's files open for writing (the
strongest evidence), works in the run's folder, or names the folder on its command line;
the strongest evidence wins, then the deepest folder. Working in or naming a folder is not
enough for a process that only reads the run's files (`tail -f`, another Cockpit) or for an
interactive shell, editor or pager sitting there. Of a process and its descendants that
both match (a trainer and its data-loader workers, which inherit its open files), the
topmost non-shell one is the writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cockpit.model.process import ProcessInfo, ProcessTable
from cockpit.sources.processes import cmdline_paths

WRITING, WORKS_IN, NAMES = 3, 2, 1

# Interactive programs that sit in a folder without writing its logs.
BYSTANDERS = frozenset({
    "bash", "sh", "zsh", "fish", "dash", "ksh", "tcsh", "csh", "tmux", "tmux: server",
    "screen", "less", "more", "most", "tail", "head", "cat", "watch", "vim", "vi", "nvim",
    "emacs", "nano", "code", "ssh", "sshd", "mc", "ranger", "htop", "top", "cockpit",
})


@dataclass(frozen=True, slots=True)
class RunFolder:
    run_id: str
    folder: str  # absolute, as the process source names paths


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_bystander(proc: ProcessInfo) -> bool:
    name = (proc.name or "").lower()
    if name in BYSTANDERS:
        return True
    return name.startswith("python") and any("cockpit" in arg for arg in proc.cmdline[1:3])


def match_writers(table: ProcessTable, runs: Iterable[RunFolder]) -> dict[str, list[ProcessInfo]]:
    """{run_id: its writer processes} for the runs some process of `table` writes."""
    folders = sorted(runs, key=lambda r: -len(r.folder))  # deepest first
    best: dict[int, tuple[int, int, str]] = {}  # pid -> (evidence, depth, run_id)
    for proc in table.processes.values():
        if not proc.exists:
            continue
        found = _best_run(proc, folders)
        if found is not None:
            best[proc.pid] = found
    by_run: dict[str, list[ProcessInfo]] = {}
    for pid, (_, _, run_id) in best.items():
        proc = table.processes[pid]
        if _has_matching_ancestor(proc, run_id, best, table.processes):
            continue
        by_run.setdefault(run_id, []).append(proc)
    return by_run


def _best_run(proc: ProcessInfo, folders: list[RunFolder]) -> tuple[int, int, str] | None:
    found: tuple[int, int, str] | None = None

    def consider(path: str, strength: int) -> None:
        nonlocal found
        for run in folders:
            if _under(path, run.folder):
                candidate = (strength, len(run.folder), run.run_id)
                if found is None or candidate > found:
                    found = candidate
                return

    for path in proc.writing:
        consider(path, WRITING)
    if found is None and not _is_bystander(proc):
        if proc.cwd:
            consider(proc.cwd, WORKS_IN)
        for path in cmdline_paths(proc.cmdline, proc.cwd):
            consider(path, NAMES)
    return found


def _has_matching_ancestor(proc: ProcessInfo, run_id: str,
                           best: Mapping[int, tuple[int, int, str]],
                           processes: Mapping[int, ProcessInfo]) -> bool:
    """A parent (or further ancestor) writes the same run and is not a mere shell."""
    seen = {proc.pid}
    parent = proc.ppid
    while parent is not None and parent not in seen and parent > 1:
        seen.add(parent)
        above = processes.get(parent)
        if above is None:
            return False
        match = best.get(parent)
        if match is not None and match[2] == run_id and not _is_bystander(above):
            return True
        parent = above.ppid
    return False
