"""Generate sample_runs/: small real training runs on the CPU, one healthy and four with faults.

Each run trains a tiny character-level GPT with real torch on a procedurally generated corpus
and logs through cockpit.integrations.torch (metrics.jsonl), a nanoGPT-style train.log and a
TensorBoard event file. Faults are injected at known steps, so the runs double as a labelled
corpus for detector evaluation (ground_truth.json). Wall-clock fields come from a simulated
clock, so the output is byte-for-byte reproducible and the stalled run really is silent for
tens of minutes before the corpus ends.

    python scripts/make_sample_runs.py                      # what `make samples` runs
    python scripts/make_sample_runs.py --steps 20 --out /tmp/s --jobs 1   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

from cockpit.integrations.torch import CockpitLogger

REPO = Path(__file__).resolve().parent.parent
GPU_RECORDING = REPO / "tests" / "fixtures" / "h100-runs" / "healthy_bf16"
GPU_RECORDING_FILES = ("gpu_trace.jsonl", "gpu_procs.jsonl", "process.json")

T0 = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC: when the simulated sweep starts
LAUNCH_GAP_S = 600.0  # the sweep launches one run every 10 minutes
STEP_S = 0.25  # simulated seconds per optimizer step (jittered)
STARTUP_S = 2.5  # extra time of the first step (process start, data, first forward)
EVAL_S = 1.8  # simulated seconds per evaluation
BATCH, BLOCK = 32, 64
PEAK_LR, MIN_LR_FRACTION = 3e-3, 0.1
BUGGED_LR = 1e-9
LR_GROWTH = 1.06  # spike_diverge: the lr multiplier compounds by this much per step
TEXT_LOG_EVERY = 10


@dataclass(frozen=True)
class RunSpec:
    """One run of the corpus: its fault and where it begins, as a fraction of the steps."""

    name: str
    fault: str
    onset_num: int  # onset step = steps * onset_num // onset_den (0/1: no fault)
    onset_den: int
    launch_index: int  # position in the sweep: start time = T0 + index * LAUNCH_GAP_S
    pid: int  # simulated process id, recorded in process.json
    per_layer: bool  # also log grad_norm/<layer> (kept to two runs to keep the corpus small)

    def onset(self, steps: int) -> int | None:
        return None if self.onset_num == 0 else steps * self.onset_num // self.onset_den


# At the default 600 steps the onsets are 250, 300, 320 and 360. The stalled run is launched
# first so that every other run keeps logging long after it went silent.
RUNS = (
    RunSpec("stall", "stall", 3, 5, 0, 41017, per_layer=False),
    RunSpec("healthy", "none", 0, 1, 1, 41532, per_layer=True),
    RunSpec("nan_collapse", "nan", 8, 15, 2, 42088, per_layer=False),
    RunSpec("spike_diverge", "divergence", 1, 2, 3, 42651, per_layer=True),
    RunSpec("lr_bug_plateau", "lr_zero", 5, 12, 4, 43190, per_layer=False),
)


# -- data and model -------------------------------------------------------------------------


def make_corpus(seed: int = 0, n_chars: int = 300_000) -> str:
    """Sentences over an invented lexicon plus 3-digit sums: quick early gains, slow later ones."""
    rng = random.Random(seed)
    syllables = "ka lo mi ten ra su vo bel dri an po ze qu ni sha tor el ux gri fa".split()  # noqa: SIM905

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3))))

    nouns = sorted({word() for _ in range(90)})
    verbs = sorted({word() + "s" for _ in range(40)})
    adjectives = sorted({word() + "y" for _ in range(25)})
    lines: list[str] = []
    size = 0
    while size < n_chars:
        if rng.random() < 0.25:
            a, b = rng.randint(0, 999), rng.randint(0, 999)
            line = f"{a}+{b}={a + b}."
        else:
            line = (
                f"the {rng.choice(adjectives)} {rng.choice(nouns)} "
                f"{rng.choice(verbs)} the {rng.choice(nouns)}"
            )
            if rng.random() < 0.3:
                line += f" with {rng.choice(nouns)}"
            line += "."
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attended.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """A 2-layer, 64-wide GPT (~110k parameters): a few tens of ms per step on one CPU core."""

    def __init__(self, vocab: int, block: int = BLOCK, width: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, 4) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def batch(data: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    starts = torch.randint(len(data) - BLOCK - 1, (BATCH,), generator=gen)
    x = torch.stack([data[s : s + BLOCK] for s in starts])
    y = torch.stack([data[s + 1 : s + BLOCK + 1] for s in starts])
    return x, y


# -- schedule, faults, clock ----------------------------------------------------------------


def scheduled_lr(step: int, steps: int) -> float:
    """Linear warmup, then cosine decay to MIN_LR_FRACTION of the peak (what healthy runs use)."""
    warmup = max(1, steps // 12)
    if step < warmup:
        return PEAK_LR * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return PEAK_LR * (
        MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))
    )


def lr_for(spec: RunSpec, step: int, steps: int) -> float:
    onset = spec.onset(steps)
    lr = scheduled_lr(step, steps)
    if onset is None or step < onset:
        return lr
    if spec.fault == "lr_zero":  # the bug: the scheduler returns a constant 1e-9 from onset on
        return BUGGED_LR
    if spec.fault == "divergence":  # the bug: the multiplier compounds instead of decaying
        return lr * LR_GROWTH ** (step - onset + 1)
    return lr


def overflow_embedding(model: TinyGPT, data: torch.Tensor) -> None:
    """nan_collapse: one embedding row overflows to inf (as an fp16 overflow would).

    The next loss is NaN, AdamW applies the NaN gradients and every weight is NaN after that.
    """
    most_common = int(torch.bincount(data).argmax())
    with torch.no_grad():
        model.tok.weight[most_common] = math.inf


class SimulatedClock:
    """Wall time for the logs: advanced by the script, never read from the machine."""

    def __init__(self, start: float, seed: int) -> None:
        self.t = start
        self.rng = random.Random(seed)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def train_step(self) -> None:
        self.advance(STEP_S * math.exp(self.rng.gauss(0.0, 0.06)))


# -- one run --------------------------------------------------------------------------------


def summary_writer(folder: Path, clock: SimulatedClock) -> Any:
    """A SummaryWriter whose file name and header carry the simulated time, not the machine's."""
    from tensorboard.summary.writer import event_file_writer
    from torch.utils.tensorboard import SummaryWriter

    fake_time = SimpleNamespace(time=clock.now)
    fake_socket = SimpleNamespace(gethostname=lambda: "cockpit-sample")
    with (
        mock.patch.object(event_file_writer, "time", fake_time),
        mock.patch.object(event_file_writer, "socket", fake_socket),
    ):
        return SummaryWriter(str(folder), flush_secs=1)


def evaluate(model: TinyGPT, data: torch.Tensor, batches: int = 4) -> float:
    gen = torch.Generator().manual_seed(1234)  # the same held-out batches at every evaluation
    model.eval()
    with torch.no_grad():
        losses = [float(model(*batch(data, gen))) for _ in range(batches)]
    model.train()
    return sum(losses) / len(losses)


def train_run(spec: RunSpec, steps: int, out: Path) -> dict[str, Any]:
    """Train one run into out/<name>; return what the ground truth needs to know about it."""
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same init and data order in every run: a control up to onset
    text = make_corpus()
    vocab = sorted(set(text))
    encoded = torch.tensor([vocab.index(c) for c in text])
    split = int(0.9 * len(encoded))
    train_data, val_data = encoded[:split], encoded[split:]
    model = TinyGPT(len(vocab))
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.1)
    data_gen = torch.Generator().manual_seed(1)

    folder = out / spec.name
    if folder.exists():
        shutil.rmtree(folder)  # the logger appends: never mix with an older generation
    folder.mkdir(parents=True)
    start = T0 + spec.launch_index * LAUNCH_GAP_S
    clock = SimulatedClock(start, seed=spec.pid)
    onset = spec.onset(steps)
    eval_every = max(1, steps // 6)
    n_params = sum(p.numel() for p in model.parameters())

    log = CockpitLogger(
        folder,
        model=model,
        optimizer=optimizer,
        tokens_per_step=BATCH * BLOCK,
        per_layer_grad_norm=2 if spec.per_layer else False,
        clock=clock.now,
        timer=clock.now,
    )
    tb = summary_writer(folder, clock)
    text_log = (folder / "train.log").open("w", encoding="utf-8")
    text_log.write(
        f"run {spec.name}: params {n_params / 1e6:.2f}M, batch {BATCH}x{BLOCK}, "
        f"lr {PEAK_LR}, device cpu\n"
    )
    clock.advance(STARTUP_S)
    losses: list[float] = []
    grad_norms: list[float] = []
    last_line: dict[str, Any] = {}
    for step in range(steps):
        if spec.fault == "stall" and step == onset:
            break  # the process "hangs" here: no more output and no "done" line
        if spec.fault == "nan" and step == onset:
            overflow_embedding(model, train_data)
        for group in optimizer.param_groups:
            group["lr"] = lr_for(spec, step, steps)
        loss = model(*batch(train_data, data_gen))
        loss.backward()
        if log.before_step(step, loss):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.train_step()
        if step % eval_every == 0 or step == steps - 1:
            with log.untimed():
                val_loss = evaluate(model, val_data)
                clock.advance(EVAL_S)
            log.log(step, val_loss=val_loss)
        line = log.after_step()
        assert line is not None
        last_line = line
        losses.append(line["loss"])
        grad_norms.append(line["grad_norm"])
        write_other_formats(line, tb, text_log)
    if spec.fault != "stall":
        text_log.write(f"done after {steps} steps\n")
    end = clock.now() + 0.4
    log.close()
    tb.close()
    text_log.close()
    rename_event_file(folder, start)
    return {
        "name": spec.name,
        "fault": spec.fault,
        "onset": onset,
        "start": start,
        "end": end,
        "last_step": last_line.get("step"),
        "last_time": last_line.get("time"),
        "losses": losses,
        "grad_norms": grad_norms,
        "n_params": n_params,
    }


def write_other_formats(line: dict[str, Any], tb: Any, text_log: Any) -> None:
    """The same step in TensorBoard (every step) and the nanoGPT-style text log (every 10)."""
    step, wall = line["step"], line["time"]
    for tag, key in (
        ("train/loss", "loss"),
        ("train/lr", "lr"),
        ("train/grad_norm", "grad_norm"),
        ("train/tokens_per_s", "tokens_per_s"),
        ("val/loss", "val_loss"),
    ):
        if key in line:
            tb.add_scalar(tag, line[key], step, walltime=wall)
    if step % TEXT_LOG_EVERY == 0:
        text_log.write(
            f"iter {step}: loss {line['loss']:.4f}, time {line['step_time_ms']:.2f}ms, "
            f"lr {line['lr']:.2e}, gnorm {line['grad_norm']:.3f}\n"
        )
    if "val_loss" in line:
        text_log.write(
            f"step {step}: train loss {line['loss']:.4f}, val loss {line['val_loss']:.4f}\n"
        )
    text_log.flush()


def rename_event_file(folder: Path, start: float) -> None:
    """Give the event file a reproducible name (the writer puts its pid in it)."""
    for path in folder.glob("events.out.tfevents.*"):
        path.rename(folder / f"events.out.tfevents.{int(start)}.cockpit-sample.0")


# -- corpus-level outputs -------------------------------------------------------------------


def finish_corpus(out: Path, results: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    """process.json per run, file times, the GPU recording, ground_truth.json and README.md."""
    observed_at = max(r["end"] for r in results) + 5.0
    truths = []
    # README order: healthy first, the stall last (it needs the others to tell its time).
    for result in sorted(results, key=lambda r: (r["name"] == "stall", r["start"])):
        spec = next(s for s in RUNS if s.name == result["name"])
        hung = spec.fault == "stall"
        process = {
            "scenario": spec.name,
            "pid": spec.pid,
            "process_start": result["start"] - 1.0,
            "process_end": None if hung else result["end"],
            "exit_code": None if hung else 0,
            "observed_at": observed_at,
            "alive_at_observation": hung,
        }
        folder = out / spec.name
        (folder / "process.json").write_text(json.dumps(process, indent=1) + "\n")
        mtime = result["last_time"] if hung else result["end"]
        for path in folder.iterdir():
            os.utime(path, (mtime, mtime))
        truths.append(ground_truth(spec, result, observed_at))
    replay = out / "gpu_replay"
    replay.mkdir(exist_ok=True)
    for name in GPU_RECORDING_FILES:
        shutil.copyfile(GPU_RECORDING / name, replay / name)
    truth = {"steps": steps, "observed_at": observed_at, "runs": truths}
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1, allow_nan=False) + "\n")
    (out / "README.md").write_text(readme(truth))
    return truth


def ground_truth(spec: RunSpec, result: dict[str, Any], observed_at: float) -> dict[str, Any]:
    """What happened, measured from the logged losses, and what a monitor should report."""
    losses: list[float] = result["losses"]
    onset = result["onset"]
    first_nonfinite = _first_nonfinite(losses)
    entry: dict[str, Any] = {
        "run": spec.name,
        "fault": spec.fault,
        "onset_step": onset,
        "last_step": result["last_step"],
        "last_time": result["last_time"],
        "first_nonfinite_step": first_nonfinite,
        "first_nonfinite_grad_norm_step": _first_nonfinite(result["grad_norms"]),
        "initial_loss": _finite_or_none(losses[0]),
        "final_loss": _finite_or_none(losses[-1]),
    }
    if spec.fault == "divergence" and onset is not None:
        before = sorted(losses[max(0, onset - 50) : onset])
        baseline = before[len(before) // 2]
        entry["pre_onset_median_loss"] = baseline
        entry["first_step_loss_above_10x_median"] = next(
            (i for i in range(onset, len(losses)) if not losses[i] <= 10 * baseline), None
        )
        finite = [v for v in losses[onset:] if math.isfinite(v)]
        entry["max_finite_loss"] = max(finite)
    if spec.fault == "stall":
        entry["silent_seconds_at_observation"] = observed_at - result["last_time"]
    entry["expected_alerts"] = EXPECTED_ALERTS[spec.fault]
    return entry


def _first_nonfinite(values: list[float]) -> int | None:
    return next((i for i, v in enumerate(values) if not math.isfinite(v)), None)


def _finite_or_none(value: float) -> float | None:
    """ground_truth.json is strict JSON: a non-finite loss is written as null."""
    return value if math.isfinite(value) else None


EXPECTED_ALERTS = {
    "none": "none at warning or above",
    "nan": "nan (critical) at onset_step, where loss and grad norm both turn NaN",
    "divergence": "spike/divergence (warning, then critical) after onset_step and before any "
    "non-finite value; nan (critical) at the first non-finite grad norm or loss, whichever "
    "comes first",
    "lr_zero": "lr_zero within 50 steps of onset_step; later a plateau in the loss",
    "stall": "stall (process alive, no output: hung) from last_time on; nothing else",
}


def fault_story(run: str, steps: int) -> str:
    """What happens in a run, in words, for the README."""
    warmup = max(1, steps // 12)
    onset = next(spec.onset(steps) for spec in RUNS if spec.name == run)
    intended = scheduled_lr(onset, steps) if onset is not None else PEAK_LR
    stories = {
        "healthy": f"Warmup ({warmup} steps) then cosine decay to 10 %; the loss falls with "
        "natural step-to-step noise and small bumps. The control: every other run follows this "
        "curve exactly until its onset.",
        "nan_collapse": "At the onset one embedding row overflows to `inf` (what an fp16 overflow "
        "does). That step's loss is NaN, AdamW applies the NaN gradients, every weight becomes "
        "NaN, and the run keeps going to the end logging `NaN` (grad norm too) without crashing.",
        "spike_diverge": f"From the onset a scheduler bug compounds the lr multiplier "
        f"(x{LR_GROWTH} per step) instead of decaying it. The loss wobbles, spikes, runs away by "
        "orders of magnitude and then turns NaN; the run keeps going, logging NaN.",
        "lr_bug_plateau": f"From the onset the scheduler returns a constant {BUGGED_LR:g} instead "
        f"of ~{intended:.1e} and decaying: the lr is effectively zero, grad norms stay normal, "
        "the loss stops improving and plateaus above the healthy run's.",
        "stall": "Logs normally, then the process hangs: the onset step never arrives. No `done` "
        "line, no more points, and the process is still alive at observation time "
        "(`process.json`: `process_end` and `exit_code` null, `alive_at_observation` true).",
    }
    return stories[run]


def readme(truth: dict[str, Any]) -> str:
    rows = []
    for run in truth["runs"]:
        onset = "-" if run["onset_step"] is None else str(run["onset_step"])
        nonfinite = run["first_nonfinite_step"]
        extra = []
        nonfinite_grad = run["first_nonfinite_grad_norm_step"]
        if nonfinite_grad is not None and nonfinite_grad != nonfinite:
            extra.append(f"grad norm first non-finite (inf) at step {nonfinite_grad}")
        if nonfinite is not None:
            extra.append(f"loss first NaN at step {nonfinite}")
        if run.get("first_step_loss_above_10x_median") is not None:
            extra.append(
                f"loss > 10x its pre-onset median from step {run['first_step_loss_above_10x_median']}, "
                f"peak {run['max_finite_loss']:.3g}"
            )
        if "silent_seconds_at_observation" in run:
            extra.append(
                f"last point step {run['last_step']}, silent "
                f"{run['silent_seconds_at_observation'] / 60:.0f} min at observation"
            )
        facts = "; ".join(extra) or f"loss {run['initial_loss']:.2f} -> {run['final_loss']:.2f}"
        rows.append(
            f"| `{run['run']}` | {fault_story(run['run'], truth['steps'])} | {onset} | {facts} | "
            f"{run['expected_alerts']} |"
        )
    table = "\n".join(rows)
    stall = next(r for r in truth["runs"] if r["fault"] == "stall")
    silent_min = stall["silent_seconds_at_observation"] / 60
    return f"""# Sample runs: real CPU training, one healthy and four broken

Generated by `scripts/make_sample_runs.py` (`make samples`; needs torch and tensorboard;
about 2.5 minutes of CPU time in all, one to two minutes on two idle cores with the default
`--jobs 2`). Do not edit by hand: regenerate. `cockpit demo` opens this folder.

Every run trains the same tiny character-level GPT (2 layers, 64 wide, ~110k parameters,
batch {BATCH}x{BLOCK}, AdamW, peak lr {PEAK_LR}, gradient clipping at 1.0) with real torch on a
procedurally generated corpus (invented words in fixed sentence frames plus 3-digit sums), for
{truth["steps"]} steps. Seeds are fixed and every run has the same initialisation and data
order, so all runs follow the healthy curve exactly until their fault's onset.

## Files in each run folder

| file | what it is |
|---|---|
| `metrics.jsonl` | written by `cockpit.integrations.torch.CockpitLogger`, one line per step: `step`, `time`, `loss`, `grad_norm` (pre-clip), `grad_norm/<layer>` (tok, pos, blocks.0, blocks.1, ln_f, head; in `healthy` and `spike_diverge` only), `lr`, `param_norm`, `update_ratio`, `step_time_ms`, `tokens_per_s`, `val_loss` every {max(1, truth["steps"] // 6)} steps, and `nonfinite_loss` once a loss was non-finite. Non-finite values are bare `NaN` tokens. |
| `train.log` | nanoGPT-style text: a `run ...` banner, `iter N: loss X, time Tms, lr L, gnorm G` every {TEXT_LOG_EVERY} steps, `step N: train loss X, val loss Y` at each evaluation, and `done after N steps` when the run finished. |
| `events.out.tfevents.*` | TensorBoard scalars `train/loss`, `train/lr`, `train/grad_norm`, `train/tokens_per_s`, `val/loss` (written by torch's `SummaryWriter`, every step). |
| `process.json` | the simulated training process: `pid`, `process_start`, `process_end`, `exit_code` (null while alive), `observed_at` (when the corpus was captured) and `alive_at_observation`. |

`gpu_replay/` is not a run: it holds a copy of the H100 recording of
`tests/fixtures/h100-runs/healthy_bf16` (`gpu_trace.jsonl`, `gpu_procs.jsonl`, `process.json`)
that the demo replays as GPU telemetry. `ground_truth.json` holds the table below as data.

## Ground truth

Onset = the first step at which the fault acts (for `stall`: the first step that never came).

| run | what happens | onset step | measured | a correct monitor reports |
|---|---|---|---|---|
{table}

## Time: simulated, and how to find the stall after the fact

The loss, gradients and learning rates are real; wall-clock time is not. Each run reads a
simulated clock ({STEP_S} s per step with a little jitter, {STARTUP_S} s at start-up, {EVAL_S} s per
evaluation, left out of `step_time_ms`), so regeneration is byte-for-byte reproducible and the
files look like a sweep that launched one run every {LAUNCH_GAP_S / 60:.0f} minutes from
{T0:.0f} (unix s). `stall` was launched first; it went silent long before the others finished.

A post-hoc stall check needs three things:
1. the timestamps of the run's points (`time` in metrics.jsonl, wall time in the event file;
   train.log has none) and from them the run's typical interval (median gap, here ~{STEP_S} s);
2. a notion of "now": `observed_at` in `process.json` where present, else the newest timestamp
   anywhere in the corpus (the last point of the latest run), else the file's mtime. The
   generator sets each file's mtime to its run's last write, but git does not keep mtimes, so
   a checkout must use the timestamps inside the files;
3. whether the run finished: a `done after N steps` line, `process_end`/`exit_code` set, or a
   traceback (crash). `stall` has none of these: alive, and silent for {silent_min:.0f} minutes
   (thousands of typical intervals) when the corpus was observed: hung.

Every other run ends with `done after N steps`, `exit_code` 0 and a last point a few seconds
before `process_end`, so none of them is stalled even though their points are old.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "sample_runs")
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained in parallel")
    args = parser.parse_args(argv)
    if args.steps < 12:
        parser.error("--steps must be at least 12 so that every fault has an onset")
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    work: list[tuple[RunSpec, int, Path]] = [(spec, args.steps, args.out) for spec in RUNS]
    if args.jobs <= 1:
        results = [train_run(*item) for item in work]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
            results = list(pool.map(_train_packed, work))
    truth = finish_corpus(args.out, results, args.steps)
    for run in truth["runs"]:
        print(
            f"{run['run']:>15}: onset {run['onset_step']}, last step {run['last_step']}, "
            f"first NaN {run['first_nonfinite_step']}, final loss {run['final_loss']}"
        )
    print(f"wrote {args.out} in {time.perf_counter() - began:.0f} s")
    return 0


def _train_packed(item: tuple[RunSpec, int, Path]) -> dict[str, Any]:
    return train_run(*item)


if __name__ == "__main__":
    sys.exit(main())
