"""Workloads named by exporter labels (pods, HPC jobs) and how they are tied to runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.telemetry.attribution import RunRef
from cockpit.telemetry.label_attribution import LabelAttributor
from cockpit.telemetry.rows import TelemetryBatch, new_process_row, new_sample
from cockpit.telemetry.workload import Workload

GIB = 1024**3
RUNS = [RunRef("r1", "exp/train-llama", Path("/runs/exp/train-llama")),
        RunRef("r2", "train", Path("/runs/train")),
        RunRef("r3", "slurm-4242", Path("/runs/slurm-4242")),
        RunRef("r4", "remote-a", Path("/remote/a"), host="gpu-node-7.cluster.local"),
        RunRef("r5", "remote-b", Path("/remote/b"), host="gpu-node-8"),
        RunRef("r6", "remote-c", Path("/remote/c"), host="gpu-node-8")]


@pytest.mark.parametrize(("labels", "key", "described"), [
    ({"pod": "train-0", "namespace": "ml", "container": "trainer"}, "pod/ml/train-0/trainer",
     "pod ml/train-0 (container trainer)"),
    # Prometheus renames the workload's labels when the target carries its own pod label.
    ({"pod": "dcgm-exporter-x2x4z", "exported_pod": "train-0", "exported_namespace": "ml"},
     "pod/ml/train-0", "pod ml/train-0"),
    ({"pod_name": "train-0", "pod_namespace": "ml", "container_name": "c"}, "pod/ml/train-0/c",
     "pod ml/train-0 (container c)"),
    ({"hpc_job": "4242"}, "hpc_job/4242", "HPC job 4242"),
])
def test_workload_labels_of_every_exporter_version(labels: dict[str, str], key: str,
                                                   described: str) -> None:
    workload = Workload.from_labels(labels)
    assert workload is not None and workload.key() == key and workload.describe() == described
    assert Workload.parse(key) == workload


def test_no_workload_labels_no_workload() -> None:
    assert Workload.from_labels({"gpu": "0", "Hostname": "n"}) is None
    assert Workload.parse("pod/") is None and Workload.parse(None) is None


@pytest.mark.parametrize(("pod", "run_id"), [
    ("train-llama", "r1"),  # the run's folder name
    ("train-llama-7c9fd", "r1"),  # a Job's pod
    ("train-llama-5d8f7b9c4-x2x4z", "r1"),  # a Deployment's pod
    ("train-llama-3", "r1"),  # a StatefulSet ordinal
    ("train-llama-worker-2", "r1"),  # a Kubeflow PyTorchJob worker
    ("train-7c9fd", "r2"),
    ("train-llama-finetune", None),  # another job that only starts like the run
    ("train-llama2-abcde", None),  # not a generated suffix: vowels and a 1 never appear
    ("llama", None),
])
def test_pods_are_matched_by_the_run_name_plus_a_generated_suffix(pod: str, run_id: str | None) -> None:
    found = LabelAttributor(RUNS).match(Workload("pod", pod, "ml"), "node-1")
    assert (found.run_id if found else None) == run_id
    if found is not None:
        assert found.by == "kubernetes_pod" and "suffix" in found.rule or pod == "train-llama"


def test_hpc_job_id_in_the_run_folder_name() -> None:
    found = LabelAttributor(RUNS).match(Workload("hpc_job", "4242"), "node-1")
    assert found is not None and found.run_id == "r3" and found.by == "hpc_job"
    assert LabelAttributor(RUNS).match(Workload("hpc_job", "424"), "node-1") is None


def test_a_remote_runs_host_when_it_is_the_only_run_there() -> None:
    labels = LabelAttributor(RUNS)
    found = labels.match(Workload("pod", "anything-else", "ml"), "gpu-node-7")
    assert found is not None and found.run_id == "r4" and found.by == "host"
    assert labels.match(None, "GPU-NODE-7.cluster.local/gi2") is not None  # MIG, FQDN
    assert labels.match(None, "gpu-node-8") is None  # two runs there: no guess


def test_batch_fills_workload_rows_and_gives_a_busy_unlabelled_gpu_to_its_hosts_run() -> None:
    labels = LabelAttributor(RUNS)
    batch = TelemetryBatch(ts=10.0)
    for gpu, used in ((0, 20 * GIB), (1, 20 * GIB), (2, GIB // 2)):
        sample = new_sample(10.0, "gpu-node-7", gpu)
        sample["mem_used"] = used
        batch.samples.append(sample)
        batch.process_ticks[("gpu-node-7", gpu)] = {}
    batch.processes.append(new_process_row(10.0, "gpu-node-7", 0, None, None, None,
                                           job="pod/ml/train-llama-7c9fd"))
    labels.attribute_batch(batch)
    rows = {r["gpu"]: r for r in batch.processes}
    assert rows[0]["run_id"] == "r1"  # the pod's name beats the host
    assert rows[1]["run_id"] == "r4" and rows[1]["job"] == "host/gpu-node-7"
    assert 2 not in rows  # half a GiB in use: nobody's job
    evidence = labels.evidence("gpu-node-7", "pod/ml/train-llama-7c9fd")
    assert evidence == {"by": "kubernetes_pod", "rule": "the pod is the run's name train-llama "
                        "plus a Kubernetes-generated suffix",
                        "workload": {"kind": "pod", "name": "train-llama-7c9fd", "namespace": "ml"}}
