"""Workloads an exporter names by label: the Kubernetes pod or HPC job holding a GPU.

Cluster telemetry has no process list, but dcgm-exporter labels each GPU's metrics with the
workload it is allocated to: `pod`/`namespace`/`container` with its Kubernetes mapping (older
versions: `pod_name`/`pod_namespace`/`container_name`; Prometheus renames them `exported_*`
when the scrape target carries labels of the same name) and `hpc_job` with its HPC job
mapping. A workload travels as one canonical string (`gpu_processes.job`, recordings) so it
can be stored, recorded and parsed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Label names per field, the most specific first (exported_* is the workload's own label
# when the target's pod/namespace labels name the exporter itself).
POD_LABELS = ("exported_pod", "pod", "pod_name")
NAMESPACE_LABELS = ("exported_namespace", "namespace", "pod_namespace")
CONTAINER_LABELS = ("exported_container", "container", "container_name")
HPC_JOB_LABELS = ("hpc_job",)

POD, HPC_JOB, HOST = "pod", "hpc_job", "host"


def short_host(host: str) -> str:
    """node-a.cluster.local/gi3 -> node-a: MIG instances and domain names share the machine."""
    return host.split("/", 1)[0].split(".", 1)[0].lower()


def first_label(labels: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Workload:
    """kind "pod" (name, namespace, container), "hpc_job" (name = job id) or "host" (a GPU
    given to the only run watched on its host: name = the host)."""

    kind: str
    name: str
    namespace: str | None = None
    container: str | None = None

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Workload | None:
        pod = first_label(labels, POD_LABELS)
        if pod:
            return cls(POD, pod, first_label(labels, NAMESPACE_LABELS),
                       first_label(labels, CONTAINER_LABELS))
        job = first_label(labels, HPC_JOB_LABELS)
        return cls(HPC_JOB, job) if job else None

    def key(self) -> str:
        """Canonical text: pod/<namespace>/<pod>[/<container>], hpc_job/<id>, host/<host>."""
        if self.kind == POD:
            parts = [POD, self.namespace or "", self.name]
            if self.container:
                parts.append(self.container)
            return "/".join(parts)
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, key: Any) -> Workload | None:
        if not isinstance(key, str):
            return None
        kind, _, rest = key.partition("/")
        if kind == POD:
            parts = rest.split("/")
            if len(parts) in (2, 3) and parts[1]:
                return cls(POD, parts[1], parts[0] or None, parts[2] if len(parts) == 3 else None)
            return None
        if kind in (HPC_JOB, HOST) and rest:
            return cls(kind, rest)
        return None

    def describe(self) -> str:
        """How a person names it: "pod ml/train-7f9c (container trainer)", "HPC job 4242"."""
        if self.kind == POD:
            where = f"{self.namespace}/{self.name}" if self.namespace else self.name
            return f"pod {where}" + (f" (container {self.container})" if self.container else "")
        if self.kind == HPC_JOB:
            return f"HPC job {self.name}"
        return f"host {self.name}"

    def short(self) -> str:
        """A display name for an alert with no watched run: the pod or job itself."""
        if self.kind == POD:
            return f"{self.namespace}/{self.name}" if self.namespace else self.name
        return self.describe()

    def evidence(self) -> dict[str, str]:
        out = {"kind": self.kind, "name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.container:
            out["container"] = self.container
        return out
