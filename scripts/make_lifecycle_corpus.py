"""Generate tests/fixtures/lifecycle-corpus/: a labelled corpus of real CPU training runs.

Every run is a real training process (a small character-level MLP language model in torch)
started by this launcher with its stdout and stderr redirected into the run folder, logged by
a real logger: JSONL lines, torch's SummaryWriter, Lightning's CSVLogger, the Hugging Face
Trainer (trainer_state.json and its stdout dicts) or nanoGPT-style prints without timestamps.
Healthy runs carry what makes detectors cry wolf (warmup + cosine, step and linear decay,
noisy small batches, early stopping, a checkpoint-resume bump, a CPU loaded by other
processes); faulty ones have one fault from a known step (NaN, divergence, lr at zero, a
loss parked at chance level, overfitting on a repeated batch, a periodic input stall, a
throughput drop, a crash in the stdout log, SIGKILL, a hang). The launcher writes each
run's `process.json` (the recording format's process record: pid, start, end, exit code; for
the hung run, that it saw the process alive and silent) and `ground_truth.json`.

    python scripts/make_lifecycle_corpus.py                 # all runs (about 15 minutes)
    python scripts/make_lifecycle_corpus.py --only f_nan_jsonl --out /tmp/c
    python scripts/make_lifecycle_corpus.py --run NAME DIR  # one run (what the launcher starts)

Checkpoints the trainers save are removed afterwards (their trainer_state.json stays) to keep
the corpus small; nothing else is edited.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "lifecycle-corpus"
CTX = 8
HANG_OBSERVE_S = 330.0  # the hung run is observed alive and silent past the 300 s stall floor


@dataclass(frozen=True)
class Spec:
    """One corpus run: its logger, schedule and fault, and what a correct monitor reports."""

    name: str
    logger: str  # jsonl | tb | text | csv | hf
    fault: str = "none"
    onset: int | None = None  # the step the fault begins at
    steps: int = 500
    schedule: str = "cosine"  # cosine | step | linear | constant
    batch: int = 32
    lr: float = 3e-3
    log_every: int = 1
    load: bool = False  # other processes keep the CPU busy for the whole run
    labels: list[dict[str, Any]] = field(default_factory=list)  # detector, onset, severity...
    allowed: list[str] = field(default_factory=list)
    final: str = "finished"  # the lifecycle state a correct monitor ends in


def _label(detector: str, onset: int, severity: str = "warning", **kw: Any) -> dict[str, Any]:
    return {"detector": detector, "onset": onset, "severity": severity, **kw}


SPECS = [
    # -- healthy ---------------------------------------------------------------------------
    Spec("h_jsonl_cosine", "jsonl"),
    Spec("h_tb_step_decay", "tb", schedule="step"),
    Spec("h_text_constant", "text", schedule="constant", lr=1e-3, log_every=5),
    Spec("h_text_noisy_small_batch", "text", batch=2, lr=1e-3, log_every=5),
    Spec("h_jsonl_noisy_small_batch", "jsonl", batch=4, lr=1e-3),
    Spec("h_jsonl_linear_decay", "jsonl", schedule="linear"),
    Spec("h_jsonl_early_stop", "jsonl", fault="early_stop", steps=1500, batch=16),
    Spec("h_tb_early_stop", "tb", fault="early_stop", steps=1500, batch=16),
    Spec("h_jsonl_resume_bump", "jsonl", fault="resume", steps=600),
    Spec("h_tb_resume_bump", "tb", fault="resume", steps=600),
    Spec("h_jsonl_cpu_loaded", "jsonl", load=True),
    Spec("h_text_cpu_loaded", "text", load=True, log_every=1),
    Spec("h_tb_cpu_loaded", "tb", load=True, schedule="step"),
    Spec("h_csv_lightning", "csv", steps=400),
    Spec("h_csv_lightning_early_stop", "csv", fault="early_stop", steps=1500, batch=16),
    Spec("h_hf_trainer", "hf", steps=300),
    Spec("h_hf_trainer_early_stop", "hf", fault="early_stop", steps=1500, batch=16),
    # -- faults ----------------------------------------------------------------------------
    Spec("f_nan_jsonl", "jsonl", fault="nan", onset=250,
         labels=[_label("nan", 250, "critical", within=0)], final="failed"),
    Spec("f_nan_then_stop_tb", "tb", fault="nan_stop", onset=250,
         labels=[_label("nan", 250, "critical", within=0)], final="failed"),
    Spec("f_diverge_text", "text", fault="diverge", onset=200, schedule="constant",
         lr=1e-3, log_every=1, labels=[_label("divergence", 200)],
         allowed=["nan", "grad_explosion", "plateau", "stuck_at_chance"], final="failed"),
    Spec("f_lr_zero_jsonl", "jsonl", fault="lr_zero", onset=250,
         labels=[_label("lr_zero", 250, within=50)], allowed=["plateau"]),
    Spec("f_chance_jsonl", "jsonl", fault="chance", onset=200, steps=700,
         labels=[_label("stuck_at_chance", 200)], allowed=["plateau", "no_learning", "divergence"]),
    Spec("f_chance_text", "text", fault="chance", onset=200, steps=700, log_every=1,
         labels=[_label("stuck_at_chance", 200)], allowed=["plateau", "no_learning", "divergence"]),
    Spec("f_overfit_jsonl", "jsonl", fault="overfit", onset=0, steps=800, schedule="constant",
         labels=[_label("overfitting", 0)], allowed=["plateau"]),
    Spec("f_overfit_tb", "tb", fault="overfit", onset=0, steps=800, schedule="constant",
         labels=[_label("overfitting", 0)], allowed=["plateau"]),
    Spec("f_input_stall_jsonl", "jsonl", fault="input_stall", onset=0, steps=400,
         labels=[_label("input_stall", 0)]),
    Spec("f_input_stall_text", "text", fault="input_stall", onset=0, steps=400, log_every=1,
         labels=[_label("input_stall", 0)]),
    Spec("f_throughput_drop_jsonl", "jsonl", fault="slow", onset=250,
         labels=[_label("throughput_drop", 250)]),
    Spec("f_crash_stdout_beside_jsonl", "jsonl", fault="crash", onset=300,
         labels=[_label("crash", 299, "critical")], final="failed"),
    Spec("f_crash_text", "text", fault="crash", onset=300, log_every=5,
         labels=[_label("crash", 295, "critical")], final="failed"),
    Spec("f_killed_jsonl", "jsonl", fault="kill", onset=300,
         labels=[_label("crash", 299, "critical")], final="failed"),
    Spec("f_hung_jsonl", "jsonl", fault="hang", onset=300,
         labels=[_label("stall", 299)], final="hung"),
    Spec("f_no_learning_jsonl", "jsonl", fault="frozen", onset=0,
         labels=[_label("no_learning", 0)], allowed=["plateau", "stuck_at_chance"]),
]
BY_NAME = {s.name: s for s in SPECS}


# -- data and model (imported lazily: the launcher itself needs no torch) -----------------------


def make_text(seed: int = 0, n_chars: int = 200_000) -> str:
    """Sentences over an invented lexicon and small sums: quick early gains, slow later ones."""
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "ten", "ra", "su", "vo", "bel", "dri", "an", "po", "ze"]
    words = sorted({"".join(rng.choice(syll) for _ in range(rng.choice((1, 2, 3))))
                    for _ in range(120)})
    out: list[str] = []
    size = 0
    while size < n_chars:
        if rng.random() < 0.2:
            a, b = rng.randint(0, 99), rng.randint(0, 99)
            line = f"{a}+{b}={a + b}."
        else:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 7))) + "."
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def lr_at(spec: Spec, step: int) -> float:
    warmup = max(1, spec.steps // 20)
    if step < warmup and spec.schedule != "constant":
        return spec.lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, spec.steps - warmup)
    if spec.schedule == "cosine":
        return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
    if spec.schedule == "step":
        return spec.lr * (1.0 if frac < 0.5 else 0.1 if frac < 0.8 else 0.01)
    if spec.schedule == "linear":
        return spec.lr * max(0.02, 1 - frac)
    return spec.lr


def build(spec: Spec) -> tuple[Any, Any, Any, int]:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    text = make_text()
    vocab = sorted(set(text))
    data = torch.tensor([vocab.index(c) for c in text])
    split = int(0.9 * len(data))

    class CharMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(len(vocab), 24)
            self.hidden = nn.Linear(24 * CTX, 192)
            self.head = nn.Linear(192, len(vocab), bias=False)

        def forward(self, x: Any) -> Any:
            h = torch.nn.functional.gelu(self.hidden(self.emb(x).flatten(1)))
            return self.head(h)

    model = CharMLP()
    with torch.no_grad():
        model.head.weight.mul_(0.1)  # starts near uniform: the initial loss is ~ln(vocab)
    return model, data[:split], data[split:], len(vocab)


def batch_of(data: Any, gen: Any, size: int) -> tuple[Any, Any]:
    import torch

    starts = torch.randint(len(data) - CTX - 1, (size,), generator=gen)
    x = torch.stack([data[s : s + CTX] for s in starts])
    return x, data[starts + CTX]


def evaluate(model: Any, data: Any) -> float:
    import torch

    gen = torch.Generator().manual_seed(99)
    model.eval()
    with torch.no_grad():
        x, y = batch_of(data, gen, 512)
        loss = float(torch.nn.functional.cross_entropy(model(x), y))
    model.train()
    return loss


# -- the generic loop: JSONL, SummaryWriter and nanoGPT-style prints --------------------------


class Log:
    def __init__(self, spec: Spec, folder: Path) -> None:
        self.spec = spec
        self.jsonl = open(folder / "metrics.jsonl", "a") if spec.logger == "jsonl" else None  # noqa: SIM115
        self.tb = None
        if spec.logger == "tb":
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(folder), flush_secs=2)

    def step(self, step: int, values: dict[str, float]) -> None:
        spec = self.spec
        if self.jsonl is not None:
            self.jsonl.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
            self.jsonl.flush()
        elif self.tb is not None:
            for key, value in values.items():
                tag = "val/loss" if key == "val_loss" else f"train/{key}"
                self.tb.add_scalar(tag, value, step)
        elif "loss" in values and step % spec.log_every == 0:
            print(f"iter {step}: loss {values['loss']:.4f}, time {values['step_time_ms']:.2f}ms, "
                  f"lr {values['lr']:.2e}", flush=True)
        elif "val_loss" in values:
            print(f"step {step}: val loss {values['val_loss']:.4f}", flush=True)

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tb is not None:
            self.tb.close()


def train_loop(spec: Spec, folder: Path, start_step: int = 0) -> None:
    import torch

    model, train, val, vocab = build(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
    ckpt = folder / "ckpt.pt"
    if start_step and ckpt.exists():  # resume: weights only (the optimizer state is lost)
        model.load_state_dict(torch.load(ckpt))
    gen = torch.Generator().manual_seed(1 + start_step)
    log = Log(spec, folder)
    print(f"training {spec.name}: vocab {vocab}, batch {spec.batch}, steps {spec.steps}",
          flush=True)
    fixed = batch_of(train, torch.Generator().manual_seed(5), spec.batch)
    best, bad_evals = math.inf, 0
    for step in range(start_step, spec.steps):
        t0 = time.perf_counter()
        onset = spec.onset if spec.onset is not None else spec.steps + 1
        if spec.fault == "input_stall" and step % 6 == 5:
            time.sleep(0.15)  # the loader's one slow worker: every 6th batch waits
        if spec.fault == "slow" and step >= onset:
            time.sleep(0.08)  # a per-step sync added at the onset
        if spec.fault in ("nan", "nan_stop") and step == onset:
            with torch.no_grad():
                model.emb.weight[int(torch.bincount(train).argmax())] = math.inf
        if spec.fault == "chance" and step == onset:
            with torch.no_grad():  # a bug zeroes the output head and freezes it
                model.head.weight.zero_()
            model.head.weight.requires_grad_(False)
        if spec.fault == "crash" and step == onset:
            model.hidden(torch.zeros(2, 5))  # a shape bug: a real torch RuntimeError
        if spec.fault == "hang" and step == onset:
            while True:
                time.sleep(3600)
        lr = lr_at(spec, step)
        if spec.fault == "lr_zero" and step >= onset:
            lr = 0.0
        if spec.fault == "diverge" and step >= onset:
            lr *= 1.04 ** (step - onset + 1)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = fixed if spec.fault == "overfit" else batch_of(train, gen, spec.batch)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        if spec.fault != "frozen":
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = float(torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], 1.0))
            opt.step()
        else:  # the bug: backward() is never called; the optimizer steps on nothing
            grad = 0.0
            opt.step()
        values = {"loss": loss.item(), "lr": lr, "grad_norm": grad,
                  "step_time_ms": (time.perf_counter() - t0) * 1000.0}
        log.step(step, values)
        if spec.fault == "nan_stop" and not math.isfinite(values["loss"]):
            print(f"loss is {values['loss']} at step {step}: stopping", flush=True)
            break
        if spec.fault == "resume" and step == 200 and not start_step:
            torch.save(model.state_dict(), ckpt)
            print(f"saved checkpoint {ckpt.name} at step {step}", flush=True)
        if step % 20 == 0 or step == spec.steps - 1:
            v = evaluate(model, val)
            log.step(step, {"val_loss": v})
            if spec.fault == "early_stop":
                best, bad_evals = (v, 0) if v < best - 1e-4 else (best, bad_evals + 1)
                if bad_evals >= 3:
                    print(f"early stopping at step {step}: val loss {v:.4f}, best {best:.4f}",
                          flush=True)
                    break
    log.close()
    ckpt.unlink(missing_ok=True)


# -- Lightning (CSVLogger) and the Hugging Face Trainer -----------------------------------------


def lightning_run(spec: Spec, folder: Path) -> None:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    model, train, val, _ = build(spec)
    gen = torch.Generator().manual_seed(1)
    xs, ys = batch_of(train, gen, spec.batch * 200)
    vx, vy = batch_of(val, torch.Generator().manual_seed(99), 512)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def training_step(self, batch: Any, _: int) -> Any:
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            self.log("lr", self.optimizers().param_groups[0]["lr"])
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1]))

        def configure_optimizers(self) -> Any:
            opt = torch.optim.AdamW(self.parameters(), lr=spec.lr)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(spec, s) / spec.lr)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, ys),
                                         batch_size=spec.batch, shuffle=True)
    val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(vx, vy),
                                             batch_size=512)
    callbacks = ([EarlyStopping("val_loss", patience=3, min_delta=1e-4)]
                 if spec.fault == "early_stop" else [])
    trainer = L.Trainer(max_steps=spec.steps, logger=CSVLogger(str(folder), name="", version=""),
                        enable_checkpointing=False, enable_progress_bar=False,
                        log_every_n_steps=5, val_check_interval=20, check_val_every_n_epoch=None,
                        accelerator="cpu", callbacks=callbacks, enable_model_summary=False)
    trainer.fit(Module(), loader, val_loader)


def hf_run(spec: Spec, folder: Path) -> None:
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    model, train, val, _ = build(spec)

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, input_ids: Any, labels: Any) -> dict[str, Any]:
            logits = self.net(input_ids)
            return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}

    class Chars(torch.utils.data.Dataset):
        def __init__(self, data: Any, n: int, seed: int) -> None:
            self.x, self.y = batch_of(data, torch.Generator().manual_seed(seed), n)

        def __len__(self) -> int:
            return len(self.y)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.x[i], "labels": self.y[i]}

    early = spec.fault == "early_stop"
    args = TrainingArguments(
        output_dir=str(folder), max_steps=spec.steps, per_device_train_batch_size=spec.batch,
        learning_rate=spec.lr, lr_scheduler_type="cosine", warmup_steps=spec.steps // 20,
        logging_steps=5, eval_strategy="steps", eval_steps=20, save_strategy="steps",
        save_steps=20, save_total_limit=1, report_to=[], disable_tqdm=True, use_cpu=True,
        load_best_model_at_end=early, metric_for_best_model="eval_loss",
        greater_is_better=False, seed=0, dataloader_num_workers=0)
    trainer = Trainer(model=Wrapped(), args=args, train_dataset=Chars(train, 20000, 1),
                      eval_dataset=Chars(val, 512, 99),
                      callbacks=[EarlyStoppingCallback(3)] if early else [])
    trainer.train()
    for ckpt in folder.glob("checkpoint-*"):  # keep the run's log, not its weights
        for item in ckpt.iterdir():
            if item.name != "trainer_state.json":
                shutil.rmtree(item) if item.is_dir() else item.unlink()


def run_one(name: str, folder: Path, start_step: int = 0) -> None:
    spec = BY_NAME[name]
    if spec.logger == "csv":
        lightning_run(spec, folder)
    elif spec.logger == "hf":
        hf_run(spec, folder)
    else:
        train_loop(spec, folder, start_step)


# -- the launcher ---------------------------------------------------------------------------------


def launch(spec: Spec, out: Path) -> dict[str, Any]:
    """Run one spec as a real child process and record what a launcher sees."""
    folder = out / spec.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log_name = "train.log" if spec.logger in ("text", "hf") else "stdout.log"
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2 * (os.cpu_count() or 1))] if spec.load else []
    record: dict[str, Any] = {"scenario": spec.name}
    try:
        proc, started = _start(spec, folder, log_name, 0)
        record.update(pid=proc.pid, process_start=started)
        if spec.fault == "kill":
            _wait_for_step(folder, spec.onset or 0)
            proc.send_signal(signal.SIGKILL)
        elif spec.fault == "hang":
            _wait_for_step(folder, (spec.onset or 0) - 1)
            time.sleep(HANG_OBSERVE_S)
            alive = proc.poll() is None
            record.update(process_end=None, exit_code=None, observed_at=time.time(),
                          alive_at_observation=alive)
            proc.kill()
            proc.wait()
            return _finish(spec, folder, record)
        elif spec.fault == "resume":
            _wait_for_line(folder / log_name, "saved checkpoint")
            time.sleep(0.5)  # preempted some steps after the checkpoint at step 200...
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc, _ = _start(spec, folder, log_name, 201)  # ...and resumed from it
            record["pid"] = proc.pid
        code = proc.wait()
        record.update(process_end=time.time(), exit_code=code)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return _finish(spec, folder, record)


def _start(spec: Spec, folder: Path, log_name: str, start_step: int
           ) -> tuple[subprocess.Popen[bytes], float]:
    with open(folder / log_name, "ab") as log:
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        started = time.time()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--run",
                                 spec.name, str(folder), "--start-step", str(start_step)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    return proc, started


def _wait_for_step(folder: Path, step: int, timeout: float = 600.0) -> None:
    deadline = time.time() + timeout
    marker = json.dumps(step)
    while time.time() < deadline:
        path = folder / "metrics.jsonl"
        if path.exists() and f'"step": {marker},' in path.read_text():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{folder.name} never reached step {step}")


def _wait_for_line(log: Path, text: str, timeout: float = 600.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{log} never said {text!r}")


def _finish(spec: Spec, folder: Path, record: dict[str, Any]) -> dict[str, Any]:
    (folder / "process.json").write_text(json.dumps(record, indent=1) + "\n")
    return _truth(spec, record)


def _truth(spec: Spec, record: dict[str, Any]) -> dict[str, Any]:
    truth = {k: v for k, v in asdict(spec).items() if k in ("name", "logger", "fault", "onset",
                                                             "labels", "allowed", "final")}
    truth["loaded_cpu"] = spec.load
    truth["exit_code"] = record.get("exit_code")
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", metavar="NAME", help="generate these runs only")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--run", nargs=2, metavar=("NAME", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--start-step", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--truth-only", action="store_true",
                        help="rewrite ground_truth.json from the specs and the runs' process.json")
    args = parser.parse_args(argv)
    if args.run:
        run_one(args.run[0], Path(args.run[1]), args.start_step)
        return 0
    if args.truth_only:
        runs = [_truth(s, json.loads((args.out / s.name / "process.json").read_text()))
                for s in SPECS if (args.out / s.name / "process.json").exists()]
        (args.out / "ground_truth.json").write_text(json.dumps({"runs": runs}, indent=1) + "\n")
        return 0
    specs = [BY_NAME[n] for n in args.only] if args.only else SPECS
    args.out.mkdir(parents=True, exist_ok=True)
    loaded = [s for s in specs if s.load]
    others = [s for s in specs if not s.load]
    truths: dict[str, Any] = {}
    with ThreadPoolExecutor(args.jobs) as pool:  # the hung run waits minutes: overlap it
        for truth in pool.map(lambda s: launch(s, args.out), others):
            truths[truth["name"]] = truth
            print(f"{truth['name']}: exit {truth['exit_code']}", flush=True)
    for spec in loaded:  # alone, so the load is what this run shares the CPU with
        truths[spec.name] = launch(spec, args.out)
        print(f"{spec.name}: exit {truths[spec.name]['exit_code']}", flush=True)
    path = args.out / "ground_truth.json"
    old = json.loads(path.read_text()) if path.exists() and args.only else {"runs": []}
    merged = {r["name"]: r for r in old["runs"]} | truths
    path.write_text(json.dumps({"runs": [merged[k] for k in sorted(merged)]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
