"""cockpit.integrations.torch against real torch on the CPU: lines, metrics, guard, laziness."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

import cockpit.integrations.torch as integration  # noqa: E402
from cockpit.integrations.torch import (  # noqa: E402
    CockpitLogger,
    NonFiniteLossError,
    cuda_memory_gb,
)


class FakeTimer:
    """A clock the test moves by hand, so step times are exact."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
        self.out = torch.nn.Linear(8, 8)

    def forward(self, x: Any) -> Any:
        return x + self.out(torch.relu(self.fc(x)))


class TinyNet(torch.nn.Module):
    """Nested names (`blocks.0.fc.weight`) so layer grouping has something to group."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(4, 8)
        self.blocks = torch.nn.ModuleList([Block(), Block()])
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x: Any) -> Any:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def block(self, index: int) -> Block:
        return cast(Block, self.blocks[index])


def make_model(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def loss_of(model: TinyNet, seed: int) -> Any:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=gen)
    return ((model(x) - 1.0) ** 2).mean()


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def squared_sum(tensors: Any) -> float:
    total = 0.0
    for t in tensors:
        assert t is not None
        total += float(t.detach().pow(2).sum())
    return total


def total_grad_norm(model: torch.nn.Module) -> float:
    return math.sqrt(squared_sum(p.grad for p in model.parameters()))


def param_norm(model: torch.nn.Module) -> float:
    return math.sqrt(squared_sum(model.parameters()))


def test_each_step_writes_one_flushed_line_with_the_metrics(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    log = CockpitLogger(tmp_path / "run", model=model, optimizer=opt, tokens_per_step=64)
    path = tmp_path / "run" / "metrics.jsonl"
    for step in range(3):
        loss_of(model, step).backward()
        assert log.before_step(step, loss_of(model, step))
        opt.step()
        opt.zero_grad()
        log.after_step()
        # flushed: visible to a reader before close
        assert len(path.read_text().splitlines()) == step + 1
    log.close()
    lines = read_lines(path)
    assert [line["step"] for line in lines] == [0, 1, 2]
    for line in lines:
        assert list(line)[:2] == ["step", "time"]
        for key in ("loss", "lr", "grad_norm", "param_norm", "update_ratio", "step_time_ms"):
            assert math.isfinite(line[key]), key
        assert line["tokens_per_s"] > 0
        assert not any(k.startswith("gpu_mem") for k in line)  # CPU run: no CUDA memory
        assert "nonfinite_loss" not in line  # no guard and nothing non-finite yet
    assert lines[0]["time"] <= lines[1]["time"] <= lines[2]["time"]


def test_grad_norm_is_measured_before_clipping(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = CockpitLogger(tmp_path, model=model, optimizer=opt)
    loss = loss_of(model, 0)
    loss.backward()
    expected = total_grad_norm(model)
    assert log.before_step(0, loss)
    clipped = torch.nn.utils.clip_grad_norm_(model.parameters(), expected / 10)
    opt.step()
    line = log.after_step()
    assert line is not None
    assert line["grad_norm"] == pytest.approx(expected, rel=1e-5)
    assert float(clipped) == pytest.approx(expected, rel=1e-5)
    assert total_grad_norm(model) == pytest.approx(expected / 10, rel=1e-4)


def test_update_ratio_and_param_norm_match_a_plain_sgd_step(tmp_path: Path) -> None:
    model = make_model()
    lr = 0.05
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    log = CockpitLogger(tmp_path, model=model, optimizer=opt)
    old_norm = param_norm(model)
    loss = loss_of(model, 0)
    loss.backward()
    grad_norm = total_grad_norm(model)
    log.before_step(0, loss)
    opt.step()
    line = log.after_step()
    assert line is not None
    new_norm = param_norm(model)
    # SGD without momentum moves the parameters by exactly lr * grad.
    assert line["update_ratio"] == pytest.approx(lr * grad_norm / old_norm, rel=1e-4)
    assert line["param_norm"] == pytest.approx(new_norm, rel=1e-6)
    assert line["lr"] == lr


def test_lr_follows_the_scheduler_and_groups_that_differ_are_logged(tmp_path: Path) -> None:
    model = make_model()
    groups: list[dict[str, Any]] = [
        {"params": list(model.embed.parameters()), "lr": 0.1},
        {"params": [p for n, p in model.named_parameters() if not n.startswith("embed")]},
    ]
    opt = torch.optim.SGD(groups, lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5**step)
    log = CockpitLogger(tmp_path, model=model, optimizer=opt, per_group_grad_norm=True)
    for step in range(3):
        loss = loss_of(model, step)
        loss.backward()
        log.before_step(step, loss)
        opt.step()
        opt.zero_grad()
        log.after_step()
        sched.step()
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [line["lr"] for line in lines] == pytest.approx([0.1, 0.05, 0.025])
    assert [line["param_group0/lr"] for line in lines] == pytest.approx([0.1, 0.05, 0.025])
    assert [line["param_group1/lr"] for line in lines] == pytest.approx([0.01, 0.005, 0.0025])
    for line in lines:
        combined = math.hypot(line["param_group0/grad_norm"], line["param_group1/grad_norm"])
        assert combined == pytest.approx(line["grad_norm"], rel=1e-6)


def test_per_layer_grad_norms_add_up_to_the_total(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    by_module = CockpitLogger(tmp_path / "a", model=model, optimizer=opt, per_layer_grad_norm=True)
    by_depth = CockpitLogger(tmp_path / "b", model=model, optimizer=opt, per_layer_grad_norm=2)
    loss = loss_of(model, 0)
    loss.backward()
    expected_fc = math.sqrt(squared_sum(p.grad for p in model.block(0).fc.parameters()))
    expected_block = math.sqrt(squared_sum(p.grad for p in model.block(1).parameters()))
    by_module.before_step(0, loss)
    by_depth.before_step(0, loss)
    a, b = by_module.after_step(), by_depth.after_step()
    assert a is not None and b is not None
    layers_a = {k: v for k, v in a.items() if k.startswith("grad_norm/")}
    layers_b = {k: v for k, v in b.items() if k.startswith("grad_norm/")}
    assert set(layers_a) == {
        "grad_norm/embed",
        "grad_norm/blocks.0.fc",
        "grad_norm/blocks.0.out",
        "grad_norm/blocks.1.fc",
        "grad_norm/blocks.1.out",
        "grad_norm/head",
    }
    assert set(layers_b) == {
        "grad_norm/embed",
        "grad_norm/blocks.0",
        "grad_norm/blocks.1",
        "grad_norm/head",
    }
    assert layers_a["grad_norm/blocks.0.fc"] == pytest.approx(expected_fc, rel=1e-5)
    assert layers_b["grad_norm/blocks.1"] == pytest.approx(expected_block, rel=1e-5)
    for layers, line in ((layers_a, a), (layers_b, b)):
        total = math.sqrt(sum(v * v for v in layers.values()))
        assert total == pytest.approx(line["grad_norm"], rel=1e-6)


def test_logged_keys_keep_their_meaning_in_cockpits_key_canonicalisation(tmp_path: Path) -> None:
    """The names the logger writes are the ones Cockpit's detectors look for, and no extra
    key (per layer, per group) collapses onto `loss`, `lr` or `grad_norm`."""
    keys_module = pytest.importorskip("cockpit.model.keys")
    model = make_model()
    groups: list[dict[str, Any]] = [
        {"params": list(model.embed.parameters()), "lr": 0.1},
        {"params": [p for n, p in model.named_parameters() if not n.startswith("embed")]},
    ]
    opt = torch.optim.SGD(groups, lr=0.01)
    log = CockpitLogger(
        tmp_path,
        model=model,
        optimizer=opt,
        tokens_per_step=8,
        per_layer_grad_norm=True,
        per_group_grad_norm=True,
        nan_guard="skip",
    )
    loss = loss_of(model, 0)
    loss.backward()
    log.before_step(0, loss)
    log.log(0, val_loss=1.0)
    line = log.after_step()
    assert line is not None
    canonical = {key: keys_module.canonical_key(key) for key in line}
    assert len(set(canonical.values())) == len(canonical), canonical
    for key in ("loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "step_time_ms"):
        assert canonical[key] == key


def test_nan_is_written_as_a_bare_token(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with CockpitLogger(tmp_path, model=model, optimizer=opt) as log:
        loss = loss_of(model, 0) * float("nan")
        loss.backward()
        assert log.before_step(0, loss)  # no guard: training goes on
        log.log(0, inf_metric=float("inf"))
        log.after_step()
    raw = (tmp_path / "metrics.jsonl").read_text()
    assert '"loss": NaN' in raw
    assert '"grad_norm": NaN' in raw
    assert '"inf_metric": Infinity' in raw
    assert "null" not in raw
    (line,) = read_lines(tmp_path / "metrics.jsonl")
    assert math.isnan(line["loss"])
    assert line["nonfinite_loss"] == 1


def test_skip_guard_keeps_the_weights_and_counts_nonfinite_losses(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    log = CockpitLogger(tmp_path, model=model, optimizer=opt, nan_guard="skip")
    stepped = []
    for step in range(4):
        loss = loss_of(model, step)
        if step == 2:
            loss = loss * float("inf")
        loss.backward()
        before = [p.detach().clone() for p in model.parameters()]
        ok = log.before_step(step, loss)
        stepped.append(ok)
        opt.step()  # called even on the skipped step: the zeroed gradients make it a no-op
        opt.zero_grad()
        log.after_step()
        unchanged = all(torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
        assert unchanged == (step == 2)
        assert all(torch.isfinite(p).all() for p in model.parameters())
    log.close()
    assert stepped == [True, True, False, True]
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [line["nonfinite_loss"] for line in lines] == [0, 0, 1, 1]
    assert math.isnan(lines[2]["loss"]) or math.isinf(lines[2]["loss"])
    assert "update_ratio" not in lines[2] and "update_ratio" in lines[3]


def test_skip_guard_gives_up_after_too_many_nonfinite_steps_in_a_row(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    log = CockpitLogger(
        tmp_path, model=model, optimizer=opt, nan_guard="skip", max_consecutive_skips=3
    )
    with pytest.raises(NonFiniteLossError) as caught:
        for step in range(10):
            loss = loss_of(model, step) * float("nan")
            loss.backward()
            if log.before_step(step, loss):
                opt.step()
            opt.zero_grad()
            log.after_step()
    assert caught.value.step == 2 and caught.value.consecutive == 3
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [line["nonfinite_loss"] for line in lines] == [1, 2, 3]


def test_stop_guard_writes_the_line_then_raises(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    log = CockpitLogger(tmp_path, model=model, optimizer=opt, nan_guard="stop")
    loss = loss_of(model, 0)
    loss.backward()
    assert log.before_step(0, loss)
    opt.step()
    opt.zero_grad()
    log.after_step()
    bad = loss_of(model, 1) * float("nan")
    bad.backward()
    with pytest.raises(NonFiniteLossError, match="step 1"):
        log.before_step(1, bad)
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [line["step"] for line in lines] == [0, 1]
    assert math.isnan(lines[1]["loss"]) and lines[1]["nonfinite_loss"] == 1


def test_step_helper_clips_steps_and_schedules(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    log = CockpitLogger(tmp_path, model=model, optimizer=opt, nan_guard="skip")
    for step in range(3):
        loss = loss_of(model, step)
        if step == 1:
            loss = loss * float("nan")
        loss.backward()
        assert log.step(step, loss, clip_grad_norm=1e-3, scheduler=sched, extra=step) == (step != 1)
        assert all(p.grad is None for p in model.parameters())
    log.close()
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [line["lr"] for line in lines] == pytest.approx([0.1, 0.05, 0.025])
    assert [line["extra"] for line in lines] == [0, 1, 2]
    # clipped to 1e-3 with SGD lr 0.1: the parameters moved by exactly 1e-4 in norm
    assert lines[0]["update_ratio"] * param_norm(make_model()) == pytest.approx(1e-4, rel=1e-3)


def test_timing_tokens_and_log_every_with_a_fake_clock(tmp_path: Path) -> None:
    timer = FakeTimer()
    log = CockpitLogger(
        tmp_path, tokens_per_step=1000, log_every=2, clock=timer, timer=timer, update_ratio=False
    )
    durations = [0.5, 0.1, 0.3, 0.2, 0.4]
    written = []
    for step, seconds in enumerate(durations):
        log.before_step(step, 1.0)
        timer.t += seconds
        if step == 2:
            with log.untimed():
                timer.t += 100.0  # an evaluation: not a slow step
            log.log(step, val_loss=0.5)
        written.append(log.after_step())
    log.close()
    assert written[1] is None and written[3] is None
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [line["step"] for line in lines] == [0, 2, 4]
    assert [line["step_time_ms"] for line in lines] == pytest.approx([500.0, 200.0, 300.0])
    assert [line["tokens_per_s"] for line in lines] == pytest.approx(
        [2000.0, 5000.0, 1000 / 0.3], abs=0.05
    )
    assert lines[1]["val_loss"] == 0.5 and lines[1]["time"] == pytest.approx(1100.9)


def test_extra_metrics_join_the_pending_line_or_get_their_own(tmp_path: Path) -> None:
    timer = FakeTimer()
    log = CockpitLogger(tmp_path, clock=timer, timer=timer)
    log.before_step(0, torch.tensor(2.0))
    log.log(0, val_loss=torch.tensor(1.5), flag=True)
    log.after_step()
    log.log(7, eval_acc=0.25)
    with pytest.raises(TypeError, match="eval_name"):
        log.log(8, eval_name="gsm8k")
    log.close()
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert lines[0]["step"] == 0 and lines[0]["val_loss"] == 1.5 and lines[0]["flag"] == 1
    assert lines[0]["loss"] == 2.0
    assert lines[1] == {"step": 7, "time": timer.t, "eval_acc": 0.25}
    assert len(lines) == 2


def test_a_step_left_without_after_step_is_still_written(tmp_path: Path) -> None:
    log = CockpitLogger(tmp_path, update_ratio=False)
    log.before_step(0, 1.0)
    log.before_step(1, 2.0)  # the loop skipped after_step (e.g. `continue`)
    log.close()
    lines = read_lines(tmp_path / "metrics.jsonl")
    assert [(line["step"], line["loss"]) for line in lines] == [(0, 1.0), (1, 2.0)]


def test_resumed_run_appends_and_repairs_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "custom.jsonl"
    with CockpitLogger(path) as log:
        log.log(0, loss=3.0)
    with path.open("a") as f:
        f.write('{"step": 1, "lo')  # the first process was killed mid-write
    with CockpitLogger(path) as log:
        log.log(1, loss=2.0)
    raw = path.read_text().splitlines()
    assert len(raw) == 3
    assert json.loads(raw[0])["loss"] == 3.0 and json.loads(raw[2])["loss"] == 2.0
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw[1])


def test_disabled_logger_writes_nothing_but_still_guards(tmp_path: Path) -> None:
    model = make_model()
    log = CockpitLogger(tmp_path / "rank1", model=model, nan_guard="skip", enabled=False)
    loss = loss_of(model, 0) * float("nan")
    loss.backward()
    assert not log.before_step(0, loss)
    assert all(p.grad is None for p in model.parameters())
    assert log.after_step() is not None
    log.close()
    assert not (tmp_path / "rank1").exists()


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nan_guard"):
        CockpitLogger(tmp_path, nan_guard="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log_every"):
        CockpitLogger(tmp_path, log_every=0)
    with pytest.raises(RuntimeError, match="optimizer"):
        CockpitLogger(tmp_path).step(0, 1.0)


def test_cuda_memory_is_reported_in_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 7_123_456_789)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 8_000_000_000)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 9_876_543_210)
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda device: type("Props", (), {"total_memory": 85_899_345_920})(),
    )
    assert cuda_memory_gb("cuda:0") == {
        "gpu_mem_alloc_gb": 7.123,
        "gpu_mem_reserved_gb": 8.0,
        "gpu_mem_peak_gb": 9.877,
        "gpu_mem_total_gb": 85.899,
    }


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_logs_memory(tmp_path: Path) -> None:
    model = make_model().cuda()
    log = CockpitLogger(tmp_path, model=model)
    loss = ((model(torch.randn(16, 4, device="cuda")) - 1) ** 2).mean()
    loss.backward()
    log.before_step(0, loss)
    line = log.after_step()
    assert line is not None and line["gpu_mem_alloc_gb"] > 0 and line["gpu_mem_total_gb"] > 1


def test_import_loads_neither_torch_nor_qt_nor_the_app() -> None:
    code = (
        "import sys\n"
        "import cockpit.integrations.torch as m\n"
        "bad = [n for n in sys.modules if n == 'torch' or n.startswith(('torch.', 'PySide6',"
        " 'pyqtgraph', 'cockpit.ui', 'cockpit.cli', 'cockpit.store', 'cockpit.ingest'))]\n"
        "assert not bad, bad\n"
        "m.CockpitLogger\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("module", sorted(Path(integration.__file__).parent.glob("*.py")),
                         ids=lambda p: p.name)
def test_integrations_import_only_the_standard_library_torch_and_their_trainer(module: Path
                                                                               ) -> None:
    """Statically, so a lazy import inside a method cannot pull in the app or Qt either: each
    hook imports the standard library, torch, the trainer it hooks and cockpit.integrations."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    ours = {name for name in imported if name.startswith("cockpit")}
    assert all(name.startswith("cockpit.integrations") for name in ours), ours
    allowed = {"torch", "__future__", "transformers", "lightning", "pytorch_lightning"}
    roots = {name.split(".")[0] for name in imported - ours}
    assert roots - allowed <= sys.stdlib_module_names
