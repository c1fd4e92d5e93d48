"""TensorBoard event files: TfeventsReader vs TensorBoard's own EventAccumulator.

The file is written by torch's real SummaryWriter (5 tags per step, like a training loop).
Both readers run in this process on the same file, one after the other, so the ratio holds
on a busy machine where absolute numbers would not. Without TensorFlow installed (the usual
PyTorch setup) EventAccumulator reads through TensorBoard's pure-Python record reader.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cockpit.ingest.tfevents import TfeventsReader, masked_crc32c
from cockpit.model.records import PointBuffer

TAGS = ("train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "val/loss")
CHUNK = 4 * 1024 * 1024  # what a file follower hands the reader per read
TARGET_RATIO = 5.0


@contextlib.contextmanager
def c_checksums_in_tensorboard_writer() -> Iterator[None]:
    """TensorBoard's record writer computes crc32c in pure Python; the C one writes the same
    bytes in a fraction of the time. Reading is untouched (EventAccumulator checks them)."""
    from tensorboard.summary.writer import record_writer

    original = record_writer.masked_crc32c
    record_writer.masked_crc32c = masked_crc32c
    try:
        yield
    finally:
        record_writer.masked_crc32c = original


def write_scalars(folder: Path, steps: int, new_style: bool = False) -> Path:
    """A SummaryWriter event file with len(TAGS) scalars per step; returns its path."""
    from torch.utils.tensorboard import SummaryWriter

    with c_checksums_in_tensorboard_writer():
        # A queue larger than the run: add_scalar never blocks on the writer thread.
        writer = SummaryWriter(str(folder), max_queue=steps * len(TAGS) + 10, flush_secs=3600)
        for step in range(steps):
            wall = 1.7e9 + step * 0.05
            loss = 2.0 + 6.0 * math.exp(-step / 5e4) + 0.01 * math.sin(step)
            values = (loss, 6e-4, 0.5 + 0.1 * math.cos(step), 3.1e5 + step % 997, loss + 0.05)
            for tag, value in zip(TAGS, values, strict=True):
                writer.add_scalar(tag, value, step, walltime=wall, new_style=new_style)
        writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path


class Stopwatch:
    """Wall and CPU seconds of a block: on a busy machine the CPU time is the steadier one."""

    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def read_ours(path: Path) -> tuple[Stopwatch, PointBuffer]:
    """Time to read every scalar of the file with TfeventsReader, fed as a follower would."""
    points = PointBuffer()
    with Stopwatch() as watch:
        reader = TfeventsReader()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                points.extend(reader.feed(chunk).points)
        points.extend(reader.finish().points)
    return watch, points


def read_reference(path: Path, tensors: bool) -> tuple[Stopwatch, dict[str, list[float]]]:
    """Time for EventAccumulator to load every scalar (or scalar tensor), and the values."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    kind = "tensors" if tensors else "scalars"
    with Stopwatch() as watch:
        accumulator = EventAccumulator(str(path), size_guidance={kind: 0})
        accumulator.Reload()
    values: dict[str, list[float]] = {}
    for tag in accumulator.Tags()[kind]:
        if tensors:
            events = accumulator.Tensors(tag)
            values[tag] = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]
        else:
            values[tag] = [e.value for e in accumulator.Scalars(tag)]
    return watch, values


def compare(steps: int, workdir: Path, new_style: bool = False) -> dict[str, Any]:
    folder = workdir / ("tensor" if new_style else "simple")
    with Stopwatch() as writing:
        path = write_scalars(folder, steps, new_style)
    ours, points = read_ours(path)
    ref, ref_values = read_reference(path, tensors=new_style)
    n = steps * len(TAGS)
    ref_n = sum(len(v) for v in ref_values.values())
    assert len(points) == ref_n == n, (len(points), ref_n, n)
    ours_values: dict[str, list[float]] = {}
    for key, value in zip(points.keys, points.values, strict=True):
        ours_values.setdefault(key, []).append(value)
    assert ours_values == ref_values, "the two readers disagree on the values"
    ours_rate, ref_rate = n / ours.wall, n / ref.wall
    style = "tensor scalars (new_style, like tf2)" if new_style else "simple_value scalars"
    return {
        "name": f"tfevents read, {n:,} {style} from torch SummaryWriter",
        "ours_per_s": round(ours_rate),
        "reference_per_s": round(ref_rate),
        "ours": f"{ours_rate / 1e3:.0f} k scalars/s ({ours.wall:.2f} s)",
        "reference": f"EventAccumulator.Reload: {ref_rate / 1e3:.0f} k scalars/s ({ref.wall:.1f} s)",
        "ratio": round(ours_rate / ref_rate, 1),
        "target": f">= {TARGET_RATIO:g}x",
        "note": f"same file ({path.stat().st_size / 2**20:.0f} MiB, written in {writing.wall:.0f} s), "
        f"same process, values checked equal; CPU-time ratio {ref.cpu / ours.cpu:.1f}x "
        f"({n / ours.cpu / 1e3:.0f} k vs {n / ref.cpu / 1e3:.0f} k scalars per CPU-s)",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-tfevents-") as tmp:
        work = Path(tmp)
        return [
            compare(20_000 if quick else 200_000, work),
            compare(4_000 if quick else 20_000, work, new_style=True),
        ]


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ("name", "ours_per_s", "reference_per_s", "ratio", "target", "note")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |", flush=True)


if __name__ == "__main__":
    print_table(run(quick=bool(os.environ.get("QUICK"))))
