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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cockpit.model.process import ProcessInfo, ProcessTable
from cockpit.sources.processes import cmdline_paths
from cockpit.telemetry.attribution import COMMAND_LINE, OPEN_FILE, WORKING_FOLDER, best_run

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


def _is_bystander(proc: ProcessInfo) -> bool:
    name = (proc.name or "").lower()
    if name in BYSTANDERS:
        return True
    return name.startswith("python") and any("cockpit" in arg for arg in proc.cmdline[1:3])


def match_writers(table: ProcessTable, runs: Iterable[RunFolder]) -> dict[str, list[ProcessInfo]]:
    """{run_id: its writer processes} for the runs some process of `table` writes."""
    folders = sorted(((r.folder, r.run_id) for r in runs), key=lambda f: -len(f[0]))
    best: dict[int, str] = {}  # pid -> run_id
    for proc in table.processes.values():
        if not proc.exists:
            continue
        found = best_run(folders, _evidence(proc))
        if found is not None:
            best[proc.pid] = found
    by_run: dict[str, list[ProcessInfo]] = {}
    for pid, run_id in best.items():
        proc = table.processes[pid]
        if _has_matching_ancestor(proc, run_id, best, table.processes):
            continue
        by_run.setdefault(run_id, []).append(proc)
    return by_run


def _evidence(proc: ProcessInfo) -> list[tuple[str, int]]:
    """Files open for writing; else, for a process that is not a bystander, its working
    folder and the paths its command line names."""
    evidence = [(path, OPEN_FILE) for path in proc.writing]
    if not evidence and not _is_bystander(proc):
        if proc.cwd:
            evidence.append((proc.cwd, WORKING_FOLDER))
        evidence += [(path, COMMAND_LINE) for path in cmdline_paths(proc.cmdline, proc.cwd)]
    return evidence


def _has_matching_ancestor(proc: ProcessInfo, run_id: str,
                           best: Mapping[int, str],
                           processes: Mapping[int, ProcessInfo]) -> bool:
    """A parent (or further ancestor) writes the same run and is not a mere shell."""
    seen = {proc.pid}
    parent = proc.ppid
    while parent is not None and parent not in seen and parent > 1:
        seen.add(parent)
        above = processes.get(parent)
        if above is None:
            return False
        if best.get(parent) == run_id and not _is_bystander(above):
            return True
        parent = above.ppid
    return False
