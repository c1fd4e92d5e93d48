"""Real training on CPU with the real libraries, for tests that read what those libraries write.

Each function trains a tiny model for a few dozen steps (seconds on CPU) and leaves the files
the library writes by itself: HF Trainer's stdout, checkpoints and trainer_state.json, Lightning's
CSVLogger/TensorBoardLogger folders, Keras' CSVLogger `training.log`. Run as a script in a child
process (`python -m tests.realtrain hf OUT ...`) so the Trainer's stdout is exactly what a user's
redirected log holds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def _xor_data(n: int, seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()
    return x, y


def hf_trainer(out: Path, steps: int = 40, cockpit: Path | None = None, save_state: bool = True,
               hub_checkpoint: bool = False, tensorboard: bool = False) -> None:
    """HF Trainer on a 2-layer MLP: logs every step, evaluates every 10, checkpoints every 20.

    cockpit: also attach Cockpit's TrainerCallback writing there (the one-line hook).
    hub_checkpoint: keep a `last-checkpoint/` copy as `hub_strategy="checkpoint"` does.
    """
    import shutil

    import torch
    from transformers import Trainer, TrainingArguments

    class Mlp(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(),
                                           torch.nn.Linear(16, 2))

        def forward(self, x: Any, labels: Any = None) -> dict[str, Any]:
            logits = self.net(x)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            return {"loss": loss, "logits": logits}

    class Data(torch.utils.data.Dataset):
        def __init__(self, n: int, seed: int) -> None:
            self.x, self.y = _xor_data(n, seed)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"x": self.x[i], "labels": self.y[i]}

    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(out), max_steps=steps, logging_steps=1, save_steps=20,
        eval_strategy="steps", eval_steps=10, per_device_train_batch_size=8,
        report_to=["tensorboard"] if tensorboard else [], use_cpu=True, disable_tqdm=True,
        learning_rate=1e-2, max_grad_norm=0.5, seed=0)
    callbacks = []
    if cockpit is not None:
        from cockpit.integrations.hf import CockpitCallback

        callbacks.append(CockpitCallback(cockpit))
    trainer = Trainer(model=Mlp(), args=args, train_dataset=Data(128, 0),
                      eval_dataset=Data(32, 1), callbacks=callbacks)
    trainer.train()
    if save_state:
        trainer.save_state()  # what run_clm.py and the other HF examples do at the end
    if hub_checkpoint:
        newest = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        shutil.copytree(newest, out / "last-checkpoint")


def lightning(out: Path, steps: int = 30, cockpit: Path | None = None,
              loggers: tuple[str, ...] = ("csv",)) -> None:
    """Lightning on the same MLP: `train_loss` logged on step and epoch, `val_loss` per epoch."""
    import lightning as L
    import torch

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(),
                                           torch.nn.Linear(16, 2))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    torch.manual_seed(0)
    x, y = _xor_data(128, 0)
    vx, vy = _xor_data(32, 1)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(vx, vy), batch_size=8)
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    made: list[Any] = []
    if "csv" in loggers:
        made.append(CSVLogger(str(out), name="csv", version=0))
    if "tensorboard" in loggers:
        made.append(TensorBoardLogger(str(out), name="tb", version=0))
    callbacks: list[Any] = [LearningRateMonitor(logging_interval="step")] if made else []
    if cockpit is not None:
        from cockpit.integrations.lightning import CockpitCallback

        callbacks.append(CockpitCallback(cockpit))
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=made or False,
                        log_every_n_steps=1, val_check_interval=10, callbacks=callbacks,
                        enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, gradient_clip_val=0.5)
    trainer.fit(Module(), train, val)


def keras_csv(out: Path, epochs: int = 5) -> None:
    """Keras 3 (torch backend) fit with `CSVLogger()`'s default file name, `training.log`."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    x, y = (t.numpy() for t in _xor_data(128, 0))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    out.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(out)  # CSVLogger's documented default: `training.log` in the working directory
    try:
        model.fit(x, y.astype(np.int64), epochs=epochs, batch_size=16, validation_split=0.25,
                  callbacks=[keras.callbacks.CSVLogger("training.log")], verbose=0)
    finally:
        os.chdir(cwd)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("hf", "lightning", "keras"))
    p.add_argument("out", type=Path)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--cockpit", type=Path)
    p.add_argument("--hub-checkpoint", action="store_true")
    p.add_argument("--no-save-state", action="store_true")
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--modules", type=Path, help="write the app/Qt modules loaded at the end here")
    args = p.parse_args(argv)
    if args.kind == "hf":
        hf_trainer(args.out, args.steps, args.cockpit, not args.no_save_state,
                   args.hub_checkpoint, args.tensorboard)
    elif args.kind == "lightning":
        lightning(args.out, args.steps, args.cockpit,
                  ("csv", "tensorboard") if args.tensorboard else ("csv",))
    else:
        keras_csv(args.out, args.steps)
    if args.modules is not None:  # what a training process that uses the hooks has loaded
        heavy = ("PySide6", "pyqtgraph", "cockpit.ui", "cockpit.monitor", "cockpit.store")
        args.modules.write_text("\n".join(sorted(m for m in sys.modules if m.startswith(heavy))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
