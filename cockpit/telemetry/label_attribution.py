"""Which run a GPU belongs to when cluster telemetry names workloads instead of processes.

Prometheus + dcgm-exporter never supplies a PID, so process attribution cannot work; the
exporter's labels can. A workload row (cockpit.telemetry.workload) belongs to a run when:

- `kubernetes_pod`: the pod is named after the run: the run folder's name, or that name plus
  the suffix Kubernetes generates for a Job, Deployment, StatefulSet or training operator
  (`train-7c9fd`, `train-5d8f7b9c4-x2x4z`, `train-0`, `train-worker-3`);
- `hpc_job`: the run folder's name carries the HPC job id (`slurm-4242`, `4242_lr3e-4`);
- `host`: the run executes on the GPU's host (a remote run's `host`) and is the only run
  watched there. A GPU with no workload label but memory in use is given to that run too.

A name rule wins over the host rule, then the longest run name. Each match keeps its
evidence, which the GPU detectors put in their alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from cockpit.telemetry.attribution import RunRef
from cockpit.telemetry.rows import TelemetryBatch, new_process_row
from cockpit.telemetry.workload import HOST, HPC_JOB, POD, Workload, short_host

GIB = 1024**3
# What Kubernetes appends to a controller's name when it names a pod. Its random parts use
# an alphabet without vowels or look-alike digits (k8s.io/apimachinery rand.String).
_R = "[bcdfghjklmnpqrstvwxz2456789]"
POD_SUFFIX = re.compile(
    rf"-{_R}{{5}}"  # Job
    rf"|-{_R}{{6,10}}-{_R}{{5}}"  # Deployment (ReplicaSet hash + pod hash)
    rf"|-\d+(-{_R}{{5}})?"  # StatefulSet ordinal, indexed Job
    r"|-(master|worker|launcher|chief|ps|evaluator)-\d+"  # Kubeflow training operators
)


@dataclass(frozen=True, slots=True)
class LabelMatch:
    run_id: str
    by: str  # "kubernetes_pod", "hpc_job" or "host"
    rule: str  # the sentence an alert quotes

    def evidence(self, workload: Workload | None) -> dict[str, Any]:
        out: dict[str, Any] = {"by": self.by, "rule": self.rule}
        if workload is not None and workload.kind != HOST:
            out["workload"] = workload.evidence()
        return out


class LabelAttributor:
    """Fills `run_id` of workload rows from the runs' names and hosts; keeps the evidence."""

    def __init__(self, runs: Iterable[RunRef] = (), host_min_mem: int = GIB) -> None:
        self.host_min_mem = host_min_mem
        self._names: list[tuple[str, str]] = []  # (folder name, run_id), longest first
        self._by_host: dict[str, list[str]] = {}
        self._cache: dict[tuple[str, str], LabelMatch | None] = {}
        self.set_runs(runs)

    def set_runs(self, runs: Iterable[RunRef]) -> None:
        names: set[tuple[str, str]] = set()
        by_host: dict[str, list[str]] = {}
        for run in runs:
            for name in {PurePath(run.name).name, PurePath(str(run.path)).name}:
                if name:
                    names.add((name.lower(), run.run_id))
            if run.host:
                by_host.setdefault(short_host(run.host), []).append(run.run_id)
        self._names = sorted(names, key=lambda item: -len(item[0]))
        self._by_host = by_host
        self._cache.clear()

    # -- matching ------------------------------------------------------------------------------

    def match(self, workload: Workload | None, host: str) -> LabelMatch | None:
        key = (workload.key() if workload else "", host)
        if key not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = self._match(workload, host)
        return self._cache[key]

    def _match(self, workload: Workload | None, host: str) -> LabelMatch | None:
        found: LabelMatch | None = None
        if workload is not None and workload.kind == POD:
            found = self._by_pod(workload.name.lower())
        elif workload is not None and workload.kind == HPC_JOB:
            found = self._by_job(workload.name.lower())
        if found is not None:
            return found
        runs = self._by_host.get(short_host(host), [])
        if len(runs) == 1:
            return LabelMatch(runs[0], "host", f"the run executes on {short_host(host)}, the "
                                               "GPU's host, and is the only run watched there")
        return None

    def _by_pod(self, pod: str) -> LabelMatch | None:
        for name, run_id in self._names:
            if pod == name:
                return LabelMatch(run_id, "kubernetes_pod", f"the pod is named {name}, like the run")
            if pod.startswith(name + "-") and POD_SUFFIX.fullmatch(pod[len(name):]):
                return LabelMatch(run_id, "kubernetes_pod", f"the pod is the run's name {name} "
                                                            "plus a Kubernetes-generated suffix")
        return None

    def _by_job(self, job: str) -> LabelMatch | None:
        for name, run_id in self._names:
            if job == name or job in re.split(r"[-_.]", name):
                return LabelMatch(run_id, "hpc_job", f"the run's folder name {name} carries the "
                                                     f"HPC job id {job}")
        return None

    # -- the batch path --------------------------------------------------------------------

    def attribute_batch(self, batch: TelemetryBatch) -> None:
        """Fill run_id of workload rows; give an unlabelled busy GPU to its host's only run."""
        held: set[tuple[str, int]] = set()
        for row in batch.processes:
            held.add((row["host"], row["gpu"]))
            if row.get("pid") is None and row.get("run_id") is None:
                found = self.match(Workload.parse(row.get("job")), row["host"])
                row["run_id"] = found.run_id if found else None
        if not self._by_host:
            return
        samples = {(s["host"], s["gpu"]): s for s in batch.samples}
        for key in batch.process_ticks:
            sample = samples.get(key)
            used = sample.get("mem_used") if sample else None
            if key in held or used is None or used < self.host_min_mem:
                continue
            found = self.match(None, key[0])
            if found is not None:
                host = Workload(HOST, short_host(key[0]))
                batch.processes.append(new_process_row(
                    batch.ts, key[0], key[1], None, used, None, name=host.describe(),
                    run_id=found.run_id, job=host.key()))

    def evidence(self, host: str, job: str | None) -> dict[str, Any] | None:
        """How the row (host, job) was given to its run, for an alert's evidence."""
        workload = Workload.parse(job)
        if workload is not None and workload.kind == HOST:
            workload = None
        found = self.match(workload, host)
        return found.evidence(workload) if found else None
