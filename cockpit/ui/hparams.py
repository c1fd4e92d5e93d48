"""Hyper-parameters across runs (TensorBoard's HParams, W&B's sweep table): every run with
its `run_params` as columns and the final and best value of a metric, ready to sort, filter,
draw as parallel coordinates, or plot one parameter against the metric.

Qt-free; values arrive as strings (`run_params.value` is VARCHAR) and count as numbers when
every run's value parses as one, else as categories placed in sorted order on an axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np

from cockpit.model.keys import canonical_key

# Bookkeeping keys readers store beside the hyper-parameters: not worth a column.
NOT_PARAMS = ("mlflow.", "run_name", "total_steps", "num_train_epochs_done")


@dataclass(slots=True)
class HParamsTable:
    run_ids: list[str]
    names: dict[str, str]
    params: list[str]  # column order: the keys whose values differ first
    values: dict[str, dict[str, str]]  # run -> key -> value
    metric: str
    final: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)  # canonical keys available

    def swept(self, run_ids: list[str]) -> list[str]:
        """The runs among these that have parameters (all of them when none has any)."""
        have = [r for r in run_ids if self.values.get(r)]
        return have or list(run_ids)

    def value(self, run_id: str, key: str) -> str:
        return self.values.get(run_id, {}).get(key, "")

    def numeric(self, key: str) -> bool:
        """Every run that has the key holds a number there."""
        seen = [v for v in (self.value(r, key) for r in self.run_ids) if v != ""]
        return bool(seen) and all(as_number(v) is not None for v in seen)

    def axis(self, key: str, runs: list[str] | None = None
             ) -> tuple[np.ndarray, list[tuple[float, str]]]:
        """Each run's position on [0, 1] for this column (NaN when missing), and the ticks
        (position, label) of the axis: numbers scaled min..max of these runs (log past 1.5
        decades), categories in sorted order."""
        runs = self.run_ids if runs is None else runs
        if key in ("final", "best"):
            got = self.final if key == "final" else self.best
            raw = np.array([got.get(r, math.nan) for r in runs], dtype=np.float64)
            return _scaled(raw)
        texts = [self.value(r, key) for r in runs]
        if self.numeric(key):
            raw = np.array([as_number(t) if t != "" else math.nan for t in texts], dtype=float)
            return _scaled(raw)
        cats = sorted({t for t in texts if t != ""})
        if not cats:
            return np.full(len(texts), np.nan), []
        pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
        return (np.array([pos.get(t, math.nan) for t in texts], dtype=np.float64),
                [(pos[c], c) for c in cats])


def as_number(text: str) -> float | None:
    """A parameter's text as a finite number, or None."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _scaled(raw: np.ndarray) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Positions on [0, 1] from min to max; on a log scale when the values are positive and
    span more than 1.5 decades (learning rates; a diverged run's loss would squash the rest)."""
    finite = raw[np.isfinite(raw)]
    if len(finite) == 0:
        return np.full(len(raw), np.nan), []
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.where(np.isfinite(raw), 0.5, np.nan), [(0.5, f"{lo:.4g}")]
    if lo > 0 and hi / lo > 30:
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = (np.log10(raw) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        mid = 10 ** ((math.log10(lo) + math.log10(hi)) / 2)
        return pos, [(0.0, f"{lo:.4g}"), (0.5, f"{mid:.3g} (log)"), (1.0, f"{hi:.4g}")]
    pos = (raw - lo) / (hi - lo)
    return pos, [(0.0, f"{lo:.4g}"), (0.5, f"{(lo + hi) / 2:.4g}"), (1.0, f"{hi:.4g}")]


def higher_is_better(key: str) -> bool:
    return any(word in key for word in ("acc", "score", "f1", "bleu", "reward", "tokens_per_s",
                                        "throughput", "mfu", "auc"))


def load_hparams(cur: duckdb.DuckDBPyConnection, metric: str = "loss") -> HParamsTable:
    runs = cur.execute("SELECT run_id, name FROM runs ORDER BY name").fetchall()
    run_ids = [str(r) for r, _ in runs]
    names = {str(r): str(n or r) for r, n in runs}
    values: dict[str, dict[str, str]] = {}
    for run_id, key, value in cur.execute("SELECT run_id, key, value FROM run_params").fetchall():
        if any(str(key).startswith(p) for p in NOT_PARAMS):
            continue
        values.setdefault(str(run_id), {})[str(key)] = "" if value is None else str(value)
    keys = sorted({k for v in values.values() for k in v})
    swept = [r for r in run_ids if r in values]  # runs without parameters do not make a key differ
    differs = [k for k in keys if len({values[r].get(k, "") for r in swept}) > 1]
    params = differs + [k for k in keys if k not in differs]
    table = HParamsTable(run_ids, names, params, values, metric)
    rows = cur.execute(
        "SELECT run_id, key, arg_max(value, step) FILTER (WHERE isfinite(value)), "
        "min(value) FILTER (WHERE isfinite(value)), max(value) FILTER (WHERE isfinite(value)) "
        "FROM metrics GROUP BY ALL").fetchall()
    available: set[str] = set()
    for run_id, key, last, lo, hi in rows:
        canon = canonical_key(str(key))
        available.add(canon)
        if canon != metric or last is None:
            continue
        table.final[str(run_id)] = float(last)
        table.best[str(run_id)] = float(hi if higher_is_better(metric) else lo)
    table.metrics = sorted(available)
    return table
