"""TensorBoard beyond scalars, on files torch's SummaryWriter writes in the test: histograms
(torch's HistogramProto and tf2's tensor layout) into `histograms`, checked against
TensorBoard's own EventAccumulator, and `add_hparams` into `run_params` of the same run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cockpit.monitor.engine import import_paths
from tests.conftest import query_db

tb = pytest.importorskip("torch.utils.tensorboard")
torch = pytest.importorskip("torch")


q = query_db


def write_run(logdir: Path) -> None:
    from tensorboard.plugins.histogram import summary_v2

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    with tb.SummaryWriter(str(logdir)) as writer:
        for step in range(6):
            loss = model(torch.randn(16, 8)).pow(2).mean()
            loss.backward()
            writer.add_scalar("Loss/train", loss.item(), step)
            writer.add_histogram("weights/linear", model.weight, step)
            writer.add_histogram("grads/linear", model.weight.grad, step)
            model.weight.grad = None
            # the tf2 layout (a tensor of left, right, count rows), built by TensorBoard itself
            data = np.random.default_rng(step).normal(size=200)
            writer.file_writer.add_summary(summary_v2.histogram_pb("tf2/normal", data, 5), step)
        writer.add_hparams({"lr": 0.01, "batch_size": 32, "optimizer": "adamw"},
                           {"hparam/accuracy": 0.91})


def test_histograms_and_hparams_are_stored(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tmp_path / "runs" / "exp"
    write_run(logdir)
    db = tmp_path / "h.duckdb"
    import_paths([tmp_path / "runs"], db)
    # one run: add_hparams' child folder belongs to it
    assert q(db, "SELECT name FROM runs") == [("exp",)]

    acc = EventAccumulator(str(logdir), size_guidance={"histograms": 0}).Reload()
    for tag in ("weights/linear", "grads/linear"):
        stored = q(db, f"SELECT step, min, max, num, sum, sum_squares, bucket_limits, "
                       f"bucket_counts FROM histograms WHERE key = '{tag}' ORDER BY step")
        theirs = acc.Histograms(tag)
        assert len(stored) == len(theirs) == 6
        for row, event in zip(stored, theirs, strict=True):
            h = event.histogram_value
            assert row[:6] == (event.step, h.min, h.max, h.num, h.sum, h.sum_squares)
            assert row[6] == list(h.bucket_limit) and row[7] == list(h.bucket)

    tf2 = q(db, "SELECT step, min, max, num, bucket_limits, bucket_counts FROM histograms "
                "WHERE key = 'tf2/normal' ORDER BY step")
    assert [r[0] for r in tf2] == list(range(6))
    for step, lo, hi, num, limits, counts in tf2:
        data = np.random.default_rng(step).normal(size=200)
        assert (lo, hi, num) == (pytest.approx(data.min()), pytest.approx(data.max()), 200)
        assert len(limits) == len(counts) == 5 and limits[-1] == pytest.approx(data.max())

    params = dict(q(db, "SELECT key, value FROM run_params"))
    assert params["hparam.lr"] == "0.01" and params["hparam.batch_size"] == "32"
    assert params["hparam.optimizer"] == "adamw"
    assert q(db, "SELECT value FROM metrics WHERE key = 'hparam/accuracy'") == [
        (pytest.approx(0.91),)]
    assert q(db, "SELECT count(*) FROM metrics WHERE key = 'Loss/train'") == [(6,)]
    # nothing is stored twice on a second import
    import_paths([tmp_path / "runs"], db)
    assert q(db, "SELECT count(*) FROM histograms") == [(18,)]
