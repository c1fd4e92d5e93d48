"""Plain-text training log reader: real fixtures, documented formats, crashes, bad input."""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from cockpit.ingest import textlog
from cockpit.ingest.textlog import MAX_LINE, TextLogReader
from cockpit.model.records import ReadResult, RunEvent
from tests.conftest import H100, PUBLIC

MODDED = {  # folder -> final step, as the fixtures' README documents it
    "muon-2024-10-10": 6200,
    "scaleup1b-seed-87bd51fd": 20344,
    "valueembed-seed-00008ea0": 1530,
    "valueembed-seed-123ac41a": 1530,
    "valueembed-seed-14511f40": 1530,
    "fp8downproj-2026-07-17": 1390,
}
H100_RUNS = ["healthy_bf16", "fp16_adam_eps_nan", "lr_stuck_at_zero", "memory_leak_oom", "starved_dataloader"]


def log_of(folder: str) -> Path:
    (path,) = [p for p in (PUBLIC / folder).iterdir() if p.suffix in (".txt", ".log")]
    return path


def all_logs() -> list[Path]:
    public = [log_of(p.name) for p in sorted(PUBLIC.iterdir()) if p.is_dir()]
    return public + [H100 / run / "train.log" for run in H100_RUNS]


def merge(into: ReadResult, other: ReadResult) -> None:
    into.points.extend(other.points)
    into.events.extend(other.events)
    into.params.update(other.params)
    into.bad_records += other.bad_records
    into.first_bad = into.first_bad or other.first_bad


def read(data: bytes, chunks: list[int] | None = None, reader: TextLogReader | None = None) -> ReadResult:
    """Feed `data` (in chunks of the given sizes, else at once), then finish."""
    reader = reader or TextLogReader()
    out = ReadResult()
    pos = 0
    for size in chunks or [len(data)]:
        merge(out, reader.feed(data[pos : pos + size]))
        pos += size
    merge(out, reader.feed(data[pos:]))
    merge(out, reader.finish())
    return out


def read_text(text: str) -> ReadResult:
    return read(text.encode())


def series(result: ReadResult) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for key, step, _, value in result.points.rows():
        assert step is not None  # every text-log point has a step
        out[key].append((step, value))
    return dict(out)


def same_rows(a: ReadResult, b: ReadResult) -> bool:
    """Rows equal, NaN included (NaN != NaN, so compare their reprs)."""
    return [repr(r) for r in a.points.rows()] == [repr(r) for r in b.points.rows()]


def errors(result: ReadResult) -> list[RunEvent]:
    return [e for e in result.events if e.kind == "error"]


def random_chunks(total: int, rng: random.Random, largest: int) -> list[int]:
    sizes: list[int] = []
    fed = 0
    while fed < total:
        sizes.append(rng.randint(1, largest))
        fed += sizes[-1]
    return sizes


# --- real fixtures ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", sorted(MODDED))
def test_modded_nanogpt_logs_give_train_and_val_losses_over_every_step(folder: str) -> None:
    data = log_of(folder).read_bytes()
    text = data.decode()
    train = {int(s): float(v) for s, v in re.findall(r"^step:(\d+)/\d+ train_loss:(\S+)", text, re.M)}
    val = {int(s): float(v) for s, v in re.findall(r"^step:(\d+)/\d+ val_loss:(\S+)", text, re.M)}
    avg_logged = re.findall(r"step_avg:(\S+)ms$", text, re.M)
    result = read(data)
    got = series(result)
    final = MODDED[folder]

    assert dict(got.get("train_loss", [])) == train  # fp8downproj logs no train loss at all
    if train:
        assert max(train) == final and len(train) == final
    assert dict(got["val_loss"]) == val and max(val) == final
    # Every step_avg point is kept, `step_avg:nanms` as NaN: nothing logged is dropped.
    assert [repr(v) for _, v in got["step_avg_ms"]] == [repr(float(v)) for v in avg_logged]
    assert all(math.isfinite(v) for k, pts in got.items() if k != "step_avg_ms" for _, v in pts)
    assert set(got) <= {"train_loss", "val_loss", "train_time_ms", "step_avg_ms"}
    assert result.params == {"total_steps": final}
    assert [(e.kind, e.step) for e in result.events] == [("finished", final)]
    assert result.bad_records == 0


def test_muon_nanms_steps_keep_step_avg_as_nan_and_their_loss() -> None:
    got = series(read(log_of("muon-2024-10-10").read_bytes()))
    avg = dict(got["step_avg_ms"])
    loss = dict(got["train_loss"])
    assert 1 in loss and 12 in loss
    # Steps 0..12 log `step_avg:nanms`: 13 NaN points, kept as logged (issue 16).
    assert sorted(s for s, v in avg.items() if math.isnan(v)) == list(range(13))
    assert math.isfinite(avg[13])
    assert loss[6200] == pytest.approx(3.2533)


def test_llmc_log_has_loss_lr_grad_norm_and_val_loss() -> None:
    data = log_of("llmc-2024-10-13").read_bytes()
    text = data.decode()
    train = re.findall(r"^s:(\d+) trl:(\S+) lr:(\S+) norm:(\S+)$", text, re.M)
    val = re.findall(r"^s:(\d+) tel:(\S+)$", text, re.M)
    got = series(read(data))
    assert set(got) == {"loss", "lr", "grad_norm", "val_loss"}
    assert got["loss"] == [(int(s), float(v)) for s, v, _, _ in train]
    assert got["lr"] == [(int(s), float(v)) for s, _, v, _ in train]
    assert got["grad_norm"] == [(int(s), float(v)) for s, _, _, v in train]
    assert got["val_loss"] == [(int(s), float(v)) for s, v in val]


def test_oldest_llmc_log_has_train_and_val_loss() -> None:
    data = log_of("adamw-llmc-2024-06-06").read_bytes()
    text = data.decode()
    result = read(data)
    got = series(result)
    assert set(got) == {"loss", "val_loss"}
    assert len(got["loss"]) == len(re.findall(r"^s:\d+ trl:", text, re.M))
    assert len(got["val_loss"]) == len(re.findall(r"^s:\d+ tel:", text, re.M))
    assert got["val_loss"][-1][0] == int(re.findall(r"^s:(\d+) tel:", text, re.M)[-1])
    assert result.events == [] and result.params == {}


def nanogpt_lines(run: str) -> list[tuple[int, str, str, str, str]]:
    text = (H100 / run / "train.log").read_text()
    return re.findall(r"^iter (\d+): loss (\S+), time (\S+)ms, lr (\S+), gnorm (\S+)$", text, re.M)


@pytest.mark.parametrize("run", H100_RUNS)
def test_h100_train_logs_match_their_iter_lines(run: str) -> None:
    lines = nanogpt_lines(run)
    got = series(read((H100 / run / "train.log").read_bytes()))
    assert set(got) == {"loss", "step_time_ms", "lr", "grad_norm"}
    for column, key in enumerate(["loss", "step_time_ms", "lr", "grad_norm"], start=1):
        expected = [(int(line[0]), float(line[column])) for line in lines]
        assert [repr(p) for p in got[key]] == [repr(p) for p in expected]


def test_healthy_bf16_has_86_losses_every_10_steps_and_no_error() -> None:
    result = read((H100 / "healthy_bf16" / "train.log").read_bytes())
    loss = series(result)["loss"]
    assert [s for s, _ in loss] == list(range(0, 851, 10))
    assert loss[0][1] == 8.4757 and loss[-1][1] == 2.2601
    assert errors(result) == []


def test_fp16_nan_losses_are_nan_points() -> None:
    result = read((H100 / "fp16_adam_eps_nan" / "train.log").read_bytes())
    loss = dict(series(result)["loss"])
    nan_steps = sorted(s for s, v in loss.items() if math.isnan(v))
    expected = [int(s) for s, v, *_ in nanogpt_lines("fp16_adam_eps_nan") if v == "nan"]
    assert nan_steps == expected and nan_steps[0] == 10
    assert loss[0] == 8.4757
    assert all(math.isnan(v) for s, v in series(result)["grad_norm"] if s in nan_steps)
    assert errors(result) == []


def test_oom_log_yields_one_error_at_the_last_step() -> None:
    result = read((H100 / "memory_leak_oom" / "train.log").read_bytes())
    (event,) = errors(result)
    assert event.message.startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 256.00 MiB")
    assert event.step == 290
    assert len(event.message) <= 300
    assert [e.kind for e in result.events] == ["error"]


@pytest.mark.parametrize("path", all_logs(), ids=lambda p: p.parent.name)
def test_only_the_oom_log_reports_an_error(path: Path) -> None:
    result = read(path.read_bytes())
    assert len(errors(result)) == (1 if path.parent.name == "memory_leak_oom" else 0)
    assert all(k and k == k.strip() for k in result.points.keys)


@pytest.mark.parametrize("path", all_logs(), ids=lambda p: p.parent.name)
def test_fast_path_gives_what_the_generic_parser_gives(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    fast = read(data)
    monkeypatch.setattr(textlog, "_SHAPE_LIMIT", 0)
    generic = read(data)
    assert same_rows(fast, generic)
    assert fast.events == generic.events and fast.params == generic.params


# --- incremental feeding ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [log_of("muon-2024-10-10"), log_of("llmc-2024-10-13"), H100 / "memory_leak_oom" / "train.log",
     H100 / "fp16_adam_eps_nan" / "train.log"],
    ids=lambda p: p.parent.name,
)
def test_random_chunks_equal_one_feed(path: Path) -> None:
    rng = random.Random(7)
    for largest, size in ((5, 40_000), (300, None), (70_000, None)):
        data = path.read_bytes()[:size]
        whole = read(data)
        chunked = read(data, random_chunks(len(data), rng, largest))
        assert same_rows(chunked, whole)
        assert chunked.events == whole.events and chunked.params == whole.params


def test_byte_by_byte_equals_one_feed() -> None:
    data = (H100 / "memory_leak_oom" / "train.log").read_bytes()
    assert same_rows(read(data, [1] * len(data)), read(data))
    assert read(data, [1] * len(data)).events == read(data).events


def restart_read(data: bytes, cut: int) -> ReadResult:
    """Read up to `cut`, save state as the follower would, rebuild a reader and go on."""
    first = TextLogReader()
    out = ReadResult()
    merge(out, first.feed(data[:cut]))
    offset = cut - len(first.pending)
    saved = json.loads(json.dumps(first.state()))
    second = TextLogReader()
    second.restore(saved)
    merge(out, second.feed(data[offset:]))
    merge(out, second.finish())
    return out


def test_restart_inside_a_traceback_still_reports_the_crash() -> None:
    data = (H100 / "memory_leak_oom" / "train.log").read_bytes()
    for marker in (b"Traceback", b'  File "train.py"', b"torch.OutOfMemoryError", b"Tried to allocate"):
        cut = data.index(marker) + 3
        result = restart_read(data, cut)
        assert same_rows(result, read(data))
        assert [(e.kind, e.step) for e in result.events] == [("error", 290)], marker


def test_restart_anywhere_equals_one_feed() -> None:
    data = (
        (H100 / "healthy_bf16" / "train.log").read_bytes()[:800]
        + b"{'loss': 2.5, 'grad_norm': 1.0, 'learning_rate': 5e-05, 'epoch': 0.1}\n"
        + b"{'eval_loss': 2.4, 'eval_runtime': 1.0, 'epoch': 0.1}\n"
        + b"{'loss': 2.4, 'grad_norm': 0.9, 'learning_rate': 4e-05, 'epoch': 0.2}\n"
        + b"[rank1]:Traceback (most recent call last):\n[rank1]:  File \"x.py\", line 1\n"
        + b"[rank1]:RuntimeError: CUDA error: an illegal memory access was encountered\n"
    )
    whole = read(data)
    for cut in range(0, len(data), 7):
        result = restart_read(data, cut)
        assert same_rows(result, whole), cut
        assert result.events == whole.events, cut


def test_half_written_line_waits_for_its_newline() -> None:
    reader = TextLogReader()
    res = reader.feed(b"iter 0: loss 8.5, time 40.00ms\niter 10: loss 8.")
    assert res.points.rows() == [("loss", 0, None, 8.5), ("step_time_ms", 0, None, 40.0)]
    assert reader.pending == b"iter 10: loss 8."
    assert len(reader.feed(b"37").points) == 0
    assert reader.feed(b", time 41.00ms\n").points.rows() == [
        ("loss", 10, None, 8.37),
        ("step_time_ms", 10, None, 41.0),
    ]
    assert reader.pending == b""


def test_finish_reads_a_last_line_without_newline() -> None:
    reader = TextLogReader()
    assert len(reader.feed(b"iter 5: loss 1.25").points) == 0
    assert reader.finish().points.rows() == [("loss", 5, None, 1.25)]
    assert reader.pending == b""


def test_crash_is_reported_only_once_its_exception_line_is_complete() -> None:
    reader = TextLogReader()
    assert reader.feed(b"iter 7: loss 2.0\nTraceback (most recent call last):\n").events == []
    assert reader.feed(b'  File "t.py", line 3, in <module>\ntorch.OutOfMemoryError: CUDA out').events == []
    (event,) = reader.feed(b" of memory.\n").events
    assert (event.kind, event.message, event.step) == ("error", "torch.OutOfMemoryError: CUDA out of memory.", 7)


def test_carriage_returns_end_lines() -> None:
    result = read(b"iter 1: loss 2.0\r\niter 2: loss 1.9\riter 3: loss 1.8\r")
    assert [s for s, _ in series(result)["loss"]] == [1, 2, 3]


# --- bad input ----------------------------------------------------------------------------


def test_invalid_utf8_does_not_crash_and_good_lines_still_parse() -> None:
    data = (
        b"\xff\xfe\xfd garbage\n"
        b"iter 1: loss 2.5, time 40.00ms\n"
        b"iter 2: loss \xc3\x28 2.4, time 40.00ms\n"
        b"iter 3: l\xe9oss 2.3\n"
        b"iter 4: loss 2.2, time 40.00ms\n"
        b"\x00\x01\x02\n"
    )
    result = read(data)
    loss = series(result)["loss"]
    assert (1, 2.5) in loss and (4, 2.2) in loss
    assert all(k and "\ufffd" not in k for k in result.points.keys)
    rng = random.Random(3)
    assert same_rows(read(data, random_chunks(len(data), rng, 3)), result)


def test_huge_line_without_newline_is_skipped_and_counted() -> None:
    big = b"x" * (MAX_LINE + 10)
    data = b"iter 1: loss 2.0\n" + big + b" iter 99: loss 0.1\niter 2: loss 1.9\n"
    for chunks in (None, [100, 600_000, 600_000, 50]):
        reader = TextLogReader()
        result = read(data, chunks, reader)
        assert series(result)["loss"] == [(1, 2.0), (2, 1.9)], chunks
        assert result.bad_records == 1 and result.first_bad
        assert len(reader.pending) == 0


def test_endless_line_does_not_grow_pending() -> None:
    reader = TextLogReader()
    for _ in range(5):
        reader.feed(b"y" * (MAX_LINE // 2))
        assert len(reader.pending) <= MAX_LINE
    assert reader.feed(b"\niter 3: loss 1.0\n").points.rows() == [("loss", 3, None, 1.0)]


@pytest.mark.timeout(20)  # a regex gone quadratic takes minutes on these, not milliseconds
def test_pathological_lines_are_read_in_linear_time() -> None:
    lines = [
        b"slurmstepd: error: *** JOB 1 CANCELLED AT " * 20_000,
        b"step 1: " + b"a b" * 1300,
        b"step 1: " + b"(" * 4000,
        b" validation loss at iteration 5 |" + b" a: " * 100_000,
        b"{'loss': " * 50_000,
        b"\x1b[" * 200_000,
        b"[rank0]:" * 50_000,
        b"Traceback (most recent call last):\n" + b"A" * 500_000,
    ]
    for line in lines:
        result = read(line + b"\n" + b"iter 1: loss 2.0\n")
        assert series(result)["loss"] == [(1, 2.0)], line[:40]


def test_banners_tables_config_dumps_and_separators_give_nothing() -> None:
    text = (
        "Running pytorch 2.4.1+cu121 compiled for CUDA 12.1\n"
        "nvidia-smi:\n"
        "| NVIDIA-SMI 535.129.03             Driver Version: 535.129.03   CUDA Version: 12.2     |\n"
        "| N/A   33C    P0             111W / 700W |   5789MiB / 81559MiB |      5%      Default |\n"
        "|    0   N/A  N/A      6718      C   /usr/bin/python3                           5776MiB |\n"
        "+---------------------------------------------------------------------------------------+\n"
        "====================================================================================\n"
        "max_iters = 5000\nsteps: 1000\nstep_size: 100\nlearning_rate: 0.001\niterations: 20\n"
        "{'batch_size': 8, 'lr': 0.1, 'model': 'gpt2'}\n"
        "Sampling steps [0, 1, 458, 459, 460, 461, 918, 919] for warmup\n"
        "peak memory allocated: 30908 MiB reserved: 46472 MiB\n"
        "Training DataLoader: total number of tokens: 1100000000 across 11 files\n"
        "    loss = model(x, y)  # step 5: loss 2.0\n"
    )
    result = read_text(text)
    assert len(result.points) == 0 and result.events == [] and result.bad_records == 0


# --- prefixes -----------------------------------------------------------------------------


def test_ansi_colours_and_rank_prefixes_are_stripped() -> None:
    text = (
        "\x1b[32miter 1: loss \x1b[1m2.5\x1b[0m, time 40.00ms\x1b[0m\n"
        "[rank0]: iter 2: loss 2.4\n"
        "[default0]:iter 3: loss 2.3\n"
        "0: iter 4: loss 2.2\n"
        " 0: iter 5: loss 2.1\n"
        "[1,0]<stdout>:iter 6: loss 2.0\n"
    )
    assert series(read_text(text))["loss"] == [(1, 2.5), (2, 2.4), (3, 2.3), (4, 2.2), (5, 2.1), (6, 2.0)]


def test_other_ranks_repeating_the_metrics_are_not_counted_twice() -> None:
    text = "".join(f"[default{r}]:step {s}: loss {s + r / 10}\n" for s in (1, 2) for r in (0, 1, 2))
    assert series(read_text(text))["loss"] == [(1, 1.0), (2, 2.0)]


def test_iso_timestamp_prefix_gives_ts() -> None:
    text = "2024-05-01 12:00:00,250 - INFO - step 40: loss 2.2 lr 1e-4\n[2024-05-01T12:00:01Z] step 41: loss 2.1\n"
    rows = read_text(text).points.rows()
    local = datetime(2024, 5, 1, 12, 0, 0, 250000).timestamp()  # naive: the machine's time
    assert [(k, s, v) for k, s, _, v in rows] == [("loss", 40, 2.2), ("lr", 40, 1e-4), ("loss", 41, 2.1)]
    assert rows[0][2] == pytest.approx(local) and rows[1][2] == pytest.approx(local)
    assert rows[2][2] == pytest.approx(1714564801.0)


# --- formats written from their documentation ---------------------------------------------


def test_nanogpt_eval_and_iter_lines() -> None:
    text = "step 100: train loss 2.3100, val loss 2.4000\niter 100: loss 2.2900, time 43.34ms, mfu 12.50%\n"
    # The eval line's train loss is a series of its own: it never competes with the iter lines'.
    assert read_text(text).points.rows() == [
        ("train_loss", 100, None, 2.31),
        ("val_loss", 100, None, 2.4),
        ("loss", 100, None, 2.29),
        ("step_time_ms", 100, None, 43.34),
        ("mfu_pct", 100, None, 12.5),
    ]


def test_nan_tokens_are_nan_and_unit_suffixed_nan_timings_are_kept_as_nan() -> None:
    text = (
        "step:5/10 train_loss:nan train_time:900ms step_avg:nanms\n"
        "iter 6: loss nan, time nanms\n"
        "s:7 trl:inf lr:-inf norm:NaN\n"
    )
    rows = read_text(text).points.rows()
    assert [(k, s, repr(v)) for k, s, _, v in rows] == [
        ("train_loss", 5, "nan"),
        ("train_time_ms", 5, "900.0"),
        ("step_avg_ms", 5, "nan"),
        ("loss", 6, "nan"),
        ("step_time_ms", 6, "nan"),
        ("loss", 7, "inf"),
        ("lr", 7, "-inf"),
        ("grad_norm", 7, "nan"),
    ]


MEGATRON = (
    " iteration      100/  500000 | consumed samples:         3200 | elapsed time per iteration (ms): 123.4 |"
    " learning rate: 1.500E-04 | global batch size:    32 | lm loss: 7.512E+00 | loss scale: 65536.0 |"
    " grad norm: 1.234 | number of skipped iterations:   0 | number of nan iterations:   0 |\n"
    " iteration      200/  500000 | consumed samples:         6400 | elapsed time per iteration (ms): 120.1 |"
    " throughput per GPU (TFLOP/s/GPU): 401.2 | learning rate: 1.499E-04 | global batch size:    32 |"
    " lm loss: nan | loss scale: 32768.0 | grad norm: inf | number of skipped iterations:   1 |"
    " number of nan iterations:   1 |\n"
    "-----------------------------------------------------------------------------------------------\n"
    " validation loss at iteration 200 | lm loss value: 7.123456E+00 | lm loss PPL: 1.239E+03 | \n"
    "-----------------------------------------------------------------------------------------------\n"
    " iteration   500000/  500000 | consumed samples:     16000000 | elapsed time per iteration (ms): 119.0 |"
    " learning rate: 1.500E-05 | global batch size:    32 | lm loss: 2.100E+00 | loss scale: 65536.0 |"
    " grad norm: 0.301 | number of skipped iterations:   0 | number of nan iterations:   0 |\n"
    "[after training is done] datetime: 2024-05-01 12:00:00\n"
)


def test_megatron_iteration_and_validation_lines() -> None:
    result = read_text(MEGATRON)
    got = {(k, s): v for k, s, _, v in result.points.rows()}
    assert got[("loss", 100)] == 7.512 and got[("lr", 100)] == 1.5e-4
    assert got[("grad_norm", 100)] == 1.234 and got[("step_time_ms", 100)] == 123.4
    assert got[("loss_scale", 100)] == 65536.0 and got[("consumed_samples", 100)] == 3200
    assert got[("global_batch_size", 100)] == 32
    assert got[("skipped_iterations", 200)] == 1 and got[("nan_iterations", 200)] == 1
    assert got[("tflops_per_gpu", 200)] == 401.2
    assert math.isnan(got[("loss", 200)]) and got[("grad_norm", 200)] == math.inf
    assert got[("val_loss", 200)] == 7.123456 and got[("val_ppl", 200)] == 1239.0
    assert got[("loss", 500000)] == 2.1
    assert not any(math.isnan(v) for (k, _), v in got.items() if k != "loss")
    assert result.params == {"total_steps": 500000}
    assert [(e.kind, e.step) for e in result.events] == [("finished", 500000)]


def test_llmc_pipe_format_with_value_first_fields() -> None:
    text = (
        "step    1/74 | train loss 4.367212 | norm 1.2345 | lr 6.00e-04 | 123.45 ms | 12.3% bf16 MFU | 123456 tok/s\n"
        "step    2/74 | train loss 4.100000 | norm 1.1000 | lr 6.00e-04 | 120.00 ms | 12.5% bf16 MFU | 125000 tok/s\n"
    )
    result = read_text(text)
    got = {(k, s): v for k, s, _, v in result.points.rows()}
    assert got == {
        ("train_loss", 1): 4.367212, ("grad_norm", 1): 1.2345, ("lr", 1): 6e-4,
        ("step_time_ms", 1): 123.45, ("mfu_pct", 1): 12.3, ("tokens_per_s", 1): 123456.0,
        ("train_loss", 2): 4.1, ("grad_norm", 2): 1.1, ("lr", 2): 6e-4, ("step_time_ms", 2): 120.0,
        ("mfu_pct", 2): 12.5, ("tokens_per_s", 2): 125000.0,
    }
    assert result.params == {"total_steps": 74}


HF = (
    "  0%|          | 0/30 [00:00<?, ?it/s]\n"
    " 33%|███▎      | 10/30 [00:02<00:04,  4.50it/s]"
    "{'loss': 2.345, 'grad_norm': 1.25, 'learning_rate': 5e-05, 'epoch': 0.33}\n"
    "{'loss': nan, 'grad_norm': inf, 'learning_rate': 4.5e-05, 'epoch': 0.67}\n"
    "{'eval_loss': 2.1, 'eval_runtime': 1.2, 'eval_samples_per_second': 100.0, 'epoch': 0.67}\n"
    "{'loss': 2.0, 'grad_norm': tensor(0.9, device='cuda:0'), 'learning_rate': 4e-05, 'epoch': 1.0}\n"
    "{'eval_loss': 2.0, 'eval_runtime': 1.1, 'eval_samples_per_second': 101.0, 'epoch': 1.0}\n"
    "{'train_runtime': 12.34, 'train_samples_per_second': 80.5, 'train_steps_per_second': 2.4, "
    "'train_loss': 2.2, 'epoch': 1.0}\n"
)


def test_hugging_face_trainer_dict_lines() -> None:
    result = read_text(HF)
    got = series(result)
    assert [(s, repr(v)) for s, v in got["loss"]] == [(1, "2.345"), (2, "nan"), (3, "2.0")]
    assert got["grad_norm"] == [(1, 1.25), (2, math.inf), (3, 0.9)]
    assert got["lr"] == [(1, 5e-05), (2, 4.5e-05), (3, 4e-05)]
    assert got["epoch"] == [(1, 0.33), (2, 0.67), (3, 1.0)]
    assert got["val_loss"] == [(1, 2.1), (2, 2.0)]
    assert got["eval_runtime"] == [(1, 1.2), (2, 1.1)]
    assert got["eval_epoch"] == [(1, 0.67), (2, 1.0)]
    assert "train_runtime" not in got and "train_loss" not in got
    assert result.params["train_runtime"] == 12.34 and result.params["train_loss"] == 2.2
    assert [(e.kind, e.step) for e in result.events] == [("finished", 3)]


def test_hugging_face_counters_survive_a_restart() -> None:
    data = HF.encode()
    cut = data.index(b"{'loss': 2.0")
    assert same_rows(restart_read(data, cut), read(data))


def test_broken_trainer_dict_is_counted_and_code_is_never_evaluated() -> None:
    text = (
        "{'loss': 2.3, 'epoch': 0.1\n"
        "{'loss': __import__('os').system('echo pwned'), 'epoch': 0.2}\n"
        "{'loss': 2.1, 'epoch': 0.3}\n"
    )
    result = read_text(text)
    assert series(result)["loss"] == [(1, 2.1)]
    assert result.bad_records == 2


def test_generic_step_lines() -> None:
    text = (
        "Step 5/10, Loss: 2.3, LR: 1e-4, tokens/sec=1200\n"
        "Epoch 2 | Step 100 | loss 2.1 | acc 0.5\n"
        "global_step=7 loss=1.5 grad_norm=0.25\n"
        "step 8: saving checkpoint to out/ckpt_8.pt\n"
    )
    result = read_text(text)
    got = {(k, s): v for k, s, _, v in result.points.rows()}
    assert got == {
        ("loss", 5): 2.3, ("lr", 5): 1e-4, ("tokens_per_s", 5): 1200.0,
        ("loss", 100): 2.1, ("acc", 100): 0.5, ("epoch", 100): 2.0,
        ("loss", 7): 1.5, ("grad_norm", 7): 0.25,
    }
    assert result.params == {"total_steps": 10}


# --- crashes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "[rank0]:[E ProcessGroupNCCL.cpp:563] [Rank 0] Watchdog caught collective operation timeout: "
        "WorkNCCL(SeqNum=5, OpType=ALLREDUCE) ran for 600000 milliseconds before timing out.",
        "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:275",
        "RuntimeError: CUDA error: an illegal memory access was encountered",
        "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB",
        "Segmentation fault (core dumped)",
        "Killed",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    ],
)
def test_crash_lines_give_one_error_at_the_last_step(line: str) -> None:
    result = read_text(f"iter 10: loss 2.5\niter 20: loss 2.4\n{line}\nKilled\n")
    (event,) = errors(result)
    assert event.step == 20
    expected = re.sub(r"^\[rank0\]:", "", line).strip()
    assert event.message == (expected if len(expected) <= 300 else expected[:297] + "...")


def test_interleaved_rank_tracebacks_give_one_error_from_the_first_exception() -> None:
    text = (
        "iter 10: loss 2.5\n"
        "[rank1]: Traceback (most recent call last):\n"
        "[rank0]: Traceback (most recent call last):\n"
        '[rank1]:   File "x.py", line 3, in <module>\n'
        '[rank0]:   File "x.py", line 3, in <module>\n'
        "[rank1]:     foo()\n"
        "[rank1]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
        "[rank0]: torch.distributed.DistBackendError: NCCL error in: all_reduce\n"
        "E1010 12:00:00 torch/distributed/elastic/multiprocessing/api.py:826] failed (exitcode: 1)\n"
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n"
    )
    (event,) = errors(read_text(text))
    assert event.message == "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert event.step == 10


def test_a_new_crash_after_progress_is_reported_again() -> None:
    text = "iter 1: loss 2\nKilled\niter 2: loss 1.9\nSegmentation fault\n"
    assert [(e.message, e.step) for e in errors(read_text(text))] == [("Killed", 1), ("Segmentation fault", 2)]


def test_exception_ignored_at_shutdown_is_not_a_crash() -> None:
    text = (
        "iter 850: loss 2.2\n"
        "Exception ignored in: <function _MultiProcessingDataLoaderIter.__del__ at 0x7f>\n"
        "Traceback (most recent call last):\n"
        '  File "dataloader.py", line 1478, in __del__\n'
        "AttributeError: 'NoneType' object has no attribute 'x'\n"
        "Training completed. Do not forget to share your model on huggingface.co/models =)\n"
    )
    result = read_text(text)
    assert [(e.kind, e.step) for e in result.events] == [("finished", 850)]


def test_chained_traceback_reports_the_first_exception() -> None:
    text = (
        "step 3: loss 1.0\n"
        "Traceback (most recent call last):\n"
        '  File "a.py", line 1, in f\n'
        "    g()\n"
        "    ^^^\n"
        "ValueError: bad batch\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "a.py", line 5, in <module>\n'
        "RuntimeError: training failed\n"
    )
    assert [(e.message, e.step) for e in errors(read_text(text))] == [("ValueError: bad batch", 3)]


def test_log_ending_inside_a_traceback_is_a_crash_at_finish() -> None:
    reader = TextLogReader()
    fed = reader.feed(b'iter 4: loss 1.0\nTraceback (most recent call last):\n  File "t.py", line 9\n')
    assert fed.events == []
    (event,) = reader.finish().events
    assert event.kind == "error" and event.step == 4


def test_rewrite_starts_over() -> None:
    reader = TextLogReader()
    reader.feed(b"{'loss': 2.0, 'epoch': 0.1}\nKilled\n")
    reader.on_rewrite()
    result = reader.feed(b"{'loss': 1.0, 'epoch': 0.1}\nKilled\n")
    assert result.points.rows()[0] == ("loss", 1, None, 1.0)
    assert [e.kind for e in result.events] == ["error"]


# --- speed --------------------------------------------------------------------------------


@pytest.mark.slow
def test_large_nanogpt_log_throughput() -> None:
    """Reports lines/s (no timing assertion: machines differ); checks the big parse is right."""
    n = 300_000
    data = "".join(
        f"iter {i}: loss {2 + (i % 997) / 1000:.4f}, time {40 + i % 13:.2f}ms, lr 6.00e-04, gnorm 0.{i % 900 + 100}\n"
        for i in range(n)
    ).encode()
    reader = TextLogReader()
    start = time.process_time()
    result = reader.feed(data)
    elapsed = time.process_time() - start
    print(f"\ntext log reader: {n / elapsed:,.0f} nanoGPT lines/s")
    assert len(result.points) == 4 * n
    assert result.points.steps[-1] == n - 1 and result.points.values[-4] == 2 + ((n - 1) % 997) / 1000


@pytest.mark.parametrize(("line", "skipped"), [
    ("iter {big}: loss 2.5, time 40.00ms", 1),  # the learned nanoGPT-style shape
    (" validation loss at iteration {big} | lm loss value: 2.5 |", 1),  # Megatron validation
    # longer than a metric line may be (4,096 characters): not searched for a step at all
    ("step {big}/{big} | loss 2.5 | lr 1e-3", 0),
    ("step:{big}/20 train_loss:2.5 train_time:1ms step_avg:1ms", 0),
])
def test_a_5000_digit_step_is_skipped_and_counted_and_the_rest_is_read(line: str,
                                                                         skipped: int) -> None:
    """int() refuses strings over 4,300 digits (ValueError); a log line like that once
    stopped the file. It is skipped and counted, and the lines around it are read."""
    data = ("iter 0: loss 3.0, time 40.00ms\n" + line.format(big="9" * 5000) + "\n"
            "iter 10: loss 2.0, time 41.00ms\n").encode()
    reader = TextLogReader()
    out = reader.feed(data)
    out.merge(reader.finish())
    assert out.points.rows() == [("loss", 0, None, 3.0), ("step_time_ms", 0, None, 40.0),
                                 ("loss", 10, None, 2.0), ("step_time_ms", 10, None, 41.0)]
    assert out.skipped == ({textlog.SKIP_STEP: skipped} if skipped else {})
