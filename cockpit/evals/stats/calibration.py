"""Calibration of a model's stated confidence against whether it was right.

Bins hold equal numbers of samples (equal-mass), so every bin's accuracy rests on the same
count: equal-width bins leave the extreme bins with a handful of samples and make ECE noisy.
ECE = sum over bins of (n_b / n) * |accuracy_b - mean confidence_b|; Brier = mean (p - y)^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cockpit.evals.stats.intervals import wilson

MIN_SAMPLES_FOR_TRUST = 300


@dataclass(slots=True)
class CalibrationBin:
    conf_low: float
    conf_high: float
    mean_confidence: float
    accuracy: float
    n: int
    ci: list[float]

    def to_json(self) -> dict[str, object]:
        return {"conf_low": self.conf_low, "conf_high": self.conf_high,
                "mean_confidence": self.mean_confidence, "accuracy": self.accuracy,
                "n": self.n, "ci": self.ci}


@dataclass(slots=True)
class Calibration:
    ece: float
    brier: float
    n: int
    bins: list[CalibrationBin]
    mean_confidence: float
    accuracy: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"ece": self.ece, "brier": self.brier, "n": self.n, "n_bins": len(self.bins),
                "binning": "equal-mass", "mean_confidence": self.mean_confidence,
                "accuracy": self.accuracy, "overconfidence": self.mean_confidence - self.accuracy,
                "bins": [b.to_json() for b in self.bins],
                "warning": "; ".join(self.warnings) or None}


def calibration(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10,
                min_per_bin: int = 20) -> Calibration | None:
    """Reliability bins, ECE and Brier over samples with both a confidence and a grade.

    At most `n_bins` bins and, where n allows, at least `min_per_bin` samples in each."""
    conf = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    ok = ~np.isnan(conf) & ~np.isnan(y)
    conf, y = conf[ok], y[ok]
    n = len(conf)
    if n == 0:
        return None
    order = np.argsort(conf, kind="stable")
    conf, y = conf[order], y[order]
    bins_used = max(1, min(n_bins, n // max(1, min_per_bin)))
    bins: list[CalibrationBin] = []
    ece = 0.0
    for part in np.array_split(np.arange(n), bins_used):
        if len(part) == 0:
            continue
        c, a = conf[part], y[part]
        acc, mc = float(a.mean()), float(c.mean())
        ece += len(part) / n * abs(acc - mc)
        w = wilson(int(a.sum()), len(part))
        bins.append(CalibrationBin(float(c[0]), float(c[-1]), mc, acc, len(part), w.ci))
    brier = float(((conf - y) ** 2).mean())
    warnings = []
    if n < MIN_SAMPLES_FOR_TRUST:
        warnings.append(f"only {n} samples with a confidence: ECE is noisy below "
                        f"{MIN_SAMPLES_FOR_TRUST} (and biased upward)")
    cal = Calibration(ece=float(ece), brier=brier, n=n, bins=bins,
                      mean_confidence=float(conf.mean()), accuracy=float(y.mean()),
                      warnings=warnings)
    if not math.isfinite(cal.ece):
        return None
    return cal
