"""Deterministic synthetic training runs, healthy and with one known fault each.

They label the evaluation corpus (scripts/eval_detectors.py) and the detector tests: each
fault starts at a known step, so recall and detection delay can be measured, and the
healthy ones carry what makes detectors cry wolf (natural one-step spikes, warmup, cosine,
step and warmup-stable-decay schedules, noisy small losses, loss-scaler skips, pauses).

The loss model is a power law in the cumulative learning rate, plus a term proportional
to the current lr (why losses drop when the lr decays), with multiplicative noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cockpit.model.records import RunEvent


@dataclass(frozen=True, slots=True)
class Label:
    """A fault the detectors must report: `detector` at `severity` or worse, at or after `onset`."""

    detector: str
    onset: int
    severity: str = "warning"
    within: int | None = None  # at most this many steps after onset
    before_step: int | None = None  # strictly before this step (a spike that ends in NaN)


@dataclass(slots=True)
class CurveRun:
    """One run's points in logging order, its events, and what a correct monitor reports."""

    name: str
    keys: list[str] = field(default_factory=list)
    steps: list[int | None] = field(default_factory=list)
    ts: list[float | None] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    allowed: frozenset[str] = frozenset()  # consequences that may also fire
    # A live stall check after the data: (seconds after the last point, process alive).
    stall_check: tuple[float, bool | None] | None = None
    description: str = ""

    @property
    def healthy(self) -> bool:
        return not self.labels


# ---- building blocks -------------------------------------------------------------------

def schedule(kind: str, n: int, warmup: int, peak: float, *, final: float = 0.1,
             length: int | None = None) -> np.ndarray:
    """lr per step. kinds: cosine, wsd, step, constant, linear, resnet, sgdr."""
    t = np.arange(n, dtype=float)
    total = float(length or n)
    lr = np.full(n, peak)
    if kind == "cosine":
        frac = np.clip((t - warmup) / max(total - warmup, 1), 0, 1)
        lr = peak * (final + (1 - final) * 0.5 * (1 + np.cos(math.pi * frac)))
    elif kind == "wsd":
        start = 0.8 * total
        lr = np.where(t < start, peak, peak * np.clip((total - t) / (total - start), 0, 1))
    elif kind == "step":
        lr = peak * np.where(t < 0.5 * total, 1.0, np.where(t < 0.75 * total, 0.1, 0.01))
    elif kind == "linear":
        lr = peak * np.clip((total - t) / max(total - warmup, 1), 0, 1)
    elif kind == "resnet":
        lr = peak * 0.1 ** ((t >= 0.3 * total).astype(float) + (t >= 0.6 * total)
                            + (t >= 0.8 * total))
    elif kind == "sgdr":
        period = total / 4
        lr = peak * 0.5 * (1 + np.cos(math.pi * ((t - warmup) % period) / period))
    elif kind != "constant":
        raise ValueError(f"unknown schedule {kind!r}")
    if warmup:
        lr = np.where(t < warmup, peak * (t + 1) / warmup, lr)
    return lr


def loss_curve(lr: np.ndarray, rng: np.random.Generator, *, start: float = 10.8,
               floor: float = 2.8, alpha: float = 0.45, tau: float = 40.0, noise: float = 0.01,
               spike_rate: float = 0.003, lr_term: float = 0.04) -> np.ndarray:
    """Power law in the cumulative lr, an lr-proportional term, noise and one-step spikes."""
    peak = float(lr.max()) or 1.0
    progress = np.cumsum(lr) / peak
    clean = floor + (start - floor) * (1 + progress / tau) ** (-alpha)
    clean = clean + lr_term * floor * lr / peak
    noisy = clean * (1 + noise * rng.standard_normal(len(lr)))
    spikes = one_step_events(rng, len(lr), spike_rate)
    noisy[spikes] *= rng.uniform(1.2, 2.2, spikes.sum())
    return np.asarray(noisy)


def one_step_events(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """A mask of isolated steps (no two within 25 steps, so no two adjacent logs at up to
    12 steps a log): natural spikes last one step."""
    mask = rng.random(n) < rate
    hits = np.flatnonzero(mask)
    keep = np.ones(len(hits), dtype=bool)
    last = -10
    for i, at in enumerate(hits):
        if at - last < 25:
            keep[i] = False
        else:
            last = int(at)
    out = np.zeros(n, dtype=bool)
    out[hits[keep]] = True
    return out


def grad_norm_curve(lr: np.ndarray, rng: np.random.Generator, *, start: float = 2.0,
                    floor: float = 0.3, spike_rate: float = 0.003) -> np.ndarray:
    peak = float(lr.max()) or 1.0
    progress = np.cumsum(lr) / peak
    clean = floor + (start - floor) * np.exp(-progress / 200)
    noisy = clean * np.exp(0.08 * rng.standard_normal(len(lr)))
    spikes = one_step_events(rng, len(lr), spike_rate)
    noisy[spikes] *= rng.uniform(3, 30, spikes.sum())
    return np.asarray(noisy)


def throughput_curve(n: int, rng: np.random.Generator, *, base: float = 350_000.0,
                     jitter: float = 0.03) -> np.ndarray:
    tps = base * (1 + jitter * rng.standard_normal(n))
    tps[:3] = base * rng.uniform(0.05, 0.3, min(3, n))  # compilation and warmup
    dips = rng.random(n) < 0.002
    tps[dips] *= 0.4  # an evaluation or checkpoint inside a step
    return np.asarray(tps)


@dataclass(slots=True)
class Curves:
    """All series of a run over every optimizer step; faults edit them in place."""

    lr: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    tokens_per_s: np.ndarray
    mem_gb: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    tokens_per_step: float = 16_384.0

    @property
    def n(self) -> int:
        return len(self.lr)


def base_curves(rng: np.random.Generator, n: int, kind: str = "cosine", *, warmup: int = 100,
                peak: float = 6e-4, final: float = 0.1, **loss_kw: float) -> Curves:
    lr = schedule(kind, n, warmup, peak, final=final)
    mem = np.full(n, 7.2) + np.round(0.004 * rng.standard_normal(n), 3)
    mem[0] = 1.4  # optimizer state appears after the first step
    return Curves(lr=lr, loss=loss_curve(lr, rng, **loss_kw), grad_norm=grad_norm_curve(lr, rng),
                  tokens_per_s=throughput_curve(n, rng), mem_gb=mem)


def emit(name: str, c: Curves, rng: np.random.Generator, *, log_every: int = 1,
         log_lr: bool = True, val_every: int = 250, t0: float = 1.7e9,
         pauses: dict[int, float] | None = None, with_ts: bool = True) -> CurveRun:
    """Turn per-step curves into a run's logged points (every `log_every` steps)."""
    step_s = c.tokens_per_step / np.maximum(c.tokens_per_s, 1.0)
    clock = t0 + np.cumsum(step_s)
    for at, seconds in (pauses or {}).items():
        clock[at:] += seconds
    run = CurveRun(name)
    series: list[tuple[str, np.ndarray]] = [
        ("grad_norm", c.grad_norm), ("gpu_mem_alloc_gb", c.mem_gb), ("loss", c.loss),
        ("step_time_ms", step_s * 1000), ("tokens_per_s", c.tokens_per_s),
    ]
    if log_lr:
        series.append(("lr", c.lr))
    series += sorted(c.extra.items())
    for step in range(0, c.n, log_every):
        ts = float(clock[step]) if with_ts else None
        for key, arr in series:
            value = float(arr[step])
            run.keys.append(key)
            run.steps.append(step)
            run.ts.append(ts)
            run.values.append(value)
        if val_every and step and step % val_every == 0:
            run.keys.append("val_loss")
            run.steps.append(step)
            run.ts.append(ts)
            run.values.append(float(c.loss[max(step - 20, 0): step + 1].mean()
                                    * (1 + 0.003 * rng.standard_normal())))
    return run


def logged_step(step: int, log_every: int) -> int:
    """The first logged step at or after `step`."""
    return -(-step // log_every) * log_every


# ---- scenarios -------------------------------------------------------------------------

Scenario = Callable[[np.random.Generator, str], CurveRun]


def healthy_cosine(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    return _describe(emit(name, c, rng), "cosine schedule, 1% noise, natural one-step spikes")


def healthy_wsd_no_lr(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 4000, "wsd", noise=0.015)
    return _describe(emit(name, c, rng, log_lr=False),
                     "warmup-stable-decay schedule, lr not logged, 1.5% noise")


def healthy_step(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 6000, "step", warmup=200)
    return _describe(emit(name, c, rng, log_every=10), "step schedule (x0.1 twice), logged every 10 steps")


def healthy_constant_long(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 8000, "constant", warmup=200, alpha=0.3)
    return _describe(emit(name, c, rng), "constant lr for 8000 steps: slow power-law progress")


def healthy_finetune(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 2000, "linear", warmup=50, peak=2e-5, start=1.6, floor=1.0,
                    alpha=0.5, tau=30.0, noise=0.03)
    return _describe(emit(name, c, rng, log_every=5), "fine-tune: low loss, 3% noise, linear decay to 0")


def healthy_small_loss(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine", start=0.7, floor=0.01, alpha=0.8, tau=20.0,
                    noise=0.25, spike_rate=0.01)
    return _describe(emit(name, c, rng), "a loss near 0.02 with 25% relative noise")


def healthy_resnet(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 20000, "resnet", warmup=0, peak=0.1, start=2.3, floor=0.25,
                    alpha=0.6, tau=300.0, noise=0.04)
    return _describe(emit(name, c, rng, log_every=10),
                     "SGD lr 0.1 divided by 10 three times (ends at 1e-3 x peak), every 10 steps")


def healthy_fp16_amp(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    scale = np.full(c.n, 65536.0)
    skips = [1, 2, 3, 4, *sorted(rng.choice(np.arange(200, c.n), 6, replace=False).tolist())]
    for s in skips:
        c.grad_norm[s] = math.inf
        scale[s:] /= 2
    c.extra["loss_scale"] = scale
    return _describe(emit(name, c, rng), "fp16 with a loss scaler: inf grad norms on skipped steps")


def healthy_eval_pauses(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    pauses = {s: 120.0 for s in range(500, 3000, 500)}
    pauses[1750] = 280.0  # a slow checkpoint save, still under the 300 s floor
    run = emit(name, c, rng, pauses=pauses)
    run.events.append(RunEvent("finished", "training done", 2999, None))
    return _describe(run, "2-minute evaluations every 500 steps and a 280 s checkpoint save")


def healthy_throughput_jitter(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    c.tokens_per_s *= 1 + 0.06 * rng.standard_normal(c.n)
    for start in range(300, 3000, 400):
        c.tokens_per_s[start: start + 30] *= 0.8  # periodic 20% slowdowns (shared node)
    return _describe(emit(name, c, rng), "throughput with 6% jitter and 20% slowdowns")


def healthy_memory_steps(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    for at in (600, 1500, 2100):
        c.mem_gb[at:] *= 1.15  # longer sequences: the allocator grows in jumps
    c.mem_gb += np.linspace(0, 0.3, c.n)  # slow fragmentation
    return _describe(emit(name, c, rng), "memory grows in three jumps plus slow fragmentation")


def healthy_sgdr(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 4000, "sgdr", warmup=50)
    return _describe(emit(name, c, rng), "cosine with warm restarts down to 0 every 1000 steps")


def fault_nan(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    c.loss[onset:] = math.nan
    c.grad_norm[onset:] = math.nan
    run = emit(name, c, rng)
    run.labels = [Label("nan", onset, "critical", within=0)]
    return _describe(run, "loss and grad norm NaN from one step on")


def fault_nan_grad_only(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    c.grad_norm[onset:] = math.nan
    c.loss[onset:] = float(np.mean(c.loss[onset - 50: onset]))  # HF logs an average instead
    run = emit(name, c, rng)
    run.labels = [Label("nan", onset, "critical", within=0)]
    run.allowed = frozenset({"plateau"})
    return _describe(run, "grad norm NaN while the logged loss is an average (HF Trainer)")


def fault_spike_to_nan(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    rise = 8
    c.loss[onset: onset + rise] = c.loss[onset - 1] * 1.7 ** np.arange(1, rise + 1)
    c.grad_norm[onset: onset + rise] *= 2.0 ** np.arange(1, rise + 1)
    c.loss[onset + rise:] = math.nan
    c.grad_norm[onset + rise:] = math.nan
    run = emit(name, c, rng)
    run.labels = [Label("divergence", onset, "warning", before_step=onset + rise)]
    run.allowed = frozenset({"nan", "grad_explosion"})
    return _describe(run, "loss grows 1.7x per step for 8 steps, then NaN")


def fault_divergence(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    ramp = np.minimum(np.arange(1, c.n - onset + 1) / 5, 1.0)
    c.loss[onset:] *= 1 + 1.2 * ramp
    c.grad_norm[onset:] *= 3
    run = emit(name, c, rng)
    run.labels = [Label("divergence", onset, "warning")]
    run.allowed = frozenset({"grad_explosion", "plateau", "no_learning"})
    return _describe(run, "loss climbs to 2.2x over 5 steps and stays there")


def fault_grad_explosion(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    c.grad_norm[onset: onset + 10] *= 2.0 ** np.arange(1, 11)
    c.loss[onset + 4: onset + 10] *= 1.5 ** np.arange(1, 7)
    c.loss[onset + 10:] = math.nan
    c.grad_norm[onset + 10:] = math.nan
    run = emit(name, c, rng)
    run.labels = [Label("grad_explosion", onset, "warning", before_step=onset + 10)]
    run.allowed = frozenset({"divergence", "nan"})
    return _describe(run, "grad norm doubles every step, the loss follows 4 steps later")


def fault_no_learning(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 2000, "cosine")
    c.loss = c.loss[0] * (1 + 0.01 * rng.standard_normal(c.n))  # frozen model at chance
    c.grad_norm *= np.exp(-np.arange(c.n) / 500)
    run = emit(name, c, rng)
    run.labels = [Label("no_learning", 100)]
    run.allowed = frozenset({"plateau"})
    return _describe(run, "loss stays at its initial value (parameters not updated)")


def fault_plateau(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 6000, "constant", warmup=200, alpha=0.3)
    onset = int(rng.integers(2500, 3500))
    level = float(np.median(c.loss[onset - 100: onset]))
    c.loss[onset:] = level * (1 + 0.01 * rng.standard_normal(c.n - onset))
    run = emit(name, c, rng)
    run.labels = [Label("plateau", onset)]
    return _describe(run, "loss stops improving at a constant non-zero lr (weights frozen)")


def fault_lr_zero(rng: np.random.Generator, name: str) -> CurveRun:
    n, warmup, peak = 3000, 100, 6e-4
    onset = int(rng.integers(300, 2000))
    lr = schedule("cosine", n, warmup, peak)
    lr[onset:] = 0.0
    c = base_curves(rng, n, "cosine")
    c.lr = lr
    c.loss = loss_curve(lr, rng)
    run = emit(name, c, rng)
    run.labels = [Label("lr_zero", onset, within=50)]
    run.allowed = frozenset({"plateau"})
    return _describe(run, "a scheduler bug sets the lr to exactly 0 mid-run")


def fault_lr_short_schedule(rng: np.random.Generator, name: str) -> CurveRun:
    n, warmup, peak = 6000, 100, 6e-4
    lr = schedule("cosine", n, warmup, peak, final=0.0, length=2000)
    lr[2000:] = 0.0
    c = base_curves(rng, n, "cosine")
    c.lr = lr
    c.loss = loss_curve(lr, rng)
    onset = int(np.argmax(lr < peak * 1e-3 * (1 - 1e-9)))
    run = emit(name, c, rng, log_every=5)
    run.labels = [Label("lr_zero", onset)]
    run.allowed = frozenset({"plateau"})
    return _describe(run, "cosine schedule set for 2000 of 6000 steps: lr 0 afterwards")


def fault_lr_zero_from_start(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 1000, "constant", warmup=0)
    c.lr[:] = 0.0
    c.loss = c.loss[0] * (1 + 0.01 * rng.standard_normal(c.n))
    run = emit(name, c, rng)
    run.labels = [Label("lr_zero", 0)]
    run.allowed = frozenset({"no_learning", "plateau"})
    return _describe(run, "the lr is 0 from the first step")


def fault_throughput_drop(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    c.tokens_per_s[onset:] *= 0.6
    run = emit(name, c, rng)
    run.labels = [Label("throughput_drop", onset)]
    return _describe(run, "tokens/s fall by 40% and stay down (throttling, a noisy neighbour)")


def fault_memory_leak(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 1600, "cosine")
    onset = int(rng.integers(300, 600))
    c.mem_gb[onset:] += 0.05 * np.arange(1, c.n - onset + 1)
    run = emit(name, c, rng)
    last = c.n - 1
    run.events.append(RunEvent(
        "error", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 256.00 MiB.",
        last, None))
    run.labels = [Label("memory_pressure", onset), Label("crash", last, "critical", within=0)]
    return _describe(run, "allocator memory climbs 0.05 GB per step, then an OOM traceback")


def fault_stall_gap(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 3000, "cosine")
    onset = int(rng.integers(800, 2000))
    run = emit(name, c, rng, pauses={onset + 1: 3600.0})
    run.events.append(RunEvent("finished", "training done", c.n - 1, None))
    run.labels = [Label("stall", onset, within=0)]
    return _describe(run, "an hour without a point mid-run (an NCCL hang that recovered)")


def fault_stall_hung(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 1500, "cosine")
    run = emit(name, c, rng)
    run.stall_check = (1800.0, True)
    run.labels = [Label("stall", c.n - 1, within=0)]
    return _describe(run, "no point for 30 minutes while the process is alive (hung)")


def fault_crash(rng: np.random.Generator, name: str) -> CurveRun:
    c = base_curves(rng, 1200, "cosine")
    run = emit(name, c, rng)
    run.events.append(RunEvent(
        "error", "torch.distributed.DistBackendError: [Rank 3] Watchdog caught collective "
        "operation timeout: WorkNCCL(SeqNum=1234, OpType=ALLREDUCE) ran for 600000 ms",
        c.n - 1, None))
    run.labels = [Label("crash", c.n - 1, "critical", within=0)]
    return _describe(run, "an NCCL watchdog timeout ends the log")


def _describe(run: CurveRun, text: str) -> CurveRun:
    run.description = text
    return run


HEALTHY: dict[str, Scenario] = {
    "healthy_cosine": healthy_cosine,
    "healthy_wsd_no_lr": healthy_wsd_no_lr,
    "healthy_step": healthy_step,
    "healthy_constant_long": healthy_constant_long,
    "healthy_finetune": healthy_finetune,
    "healthy_small_loss": healthy_small_loss,
    "healthy_resnet": healthy_resnet,
    "healthy_fp16_amp": healthy_fp16_amp,
    "healthy_eval_pauses": healthy_eval_pauses,
    "healthy_throughput_jitter": healthy_throughput_jitter,
    "healthy_memory_steps": healthy_memory_steps,
    "healthy_sgdr": healthy_sgdr,
}

FAULTY: dict[str, Scenario] = {
    "fault_nan": fault_nan,
    "fault_nan_grad_only": fault_nan_grad_only,
    "fault_spike_to_nan": fault_spike_to_nan,
    "fault_divergence": fault_divergence,
    "fault_grad_explosion": fault_grad_explosion,
    "fault_no_learning": fault_no_learning,
    "fault_plateau": fault_plateau,
    "fault_lr_zero": fault_lr_zero,
    "fault_lr_short_schedule": fault_lr_short_schedule,
    "fault_lr_zero_from_start": fault_lr_zero_from_start,
    "fault_throughput_drop": fault_throughput_drop,
    "fault_memory_leak": fault_memory_leak,
    "fault_stall_gap": fault_stall_gap,
    "fault_stall_hung": fault_stall_hung,
    "fault_crash": fault_crash,
}


def make_run(scenario: str, seed: int = 0) -> CurveRun:
    """One scenario's run for one seed (same inputs, same curves, on every machine)."""
    build = HEALTHY.get(scenario) or FAULTY.get(scenario)
    if build is None:
        raise KeyError(f"unknown scenario {scenario!r}")
    rng = np.random.default_rng([seed, sum(map(ord, scenario))])
    return build(rng, f"{scenario}-s{seed}")


def corpus(seeds: int = 3) -> list[CurveRun]:
    return [make_run(name, seed) for name in [*HEALTHY, *FAULTY] for seed in range(seeds)]
