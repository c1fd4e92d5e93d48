"""`input_stall`: one step in every p is much slower than the rest, regularly.

A data loader whose workers cannot keep up makes every p-th batch wait (p is often its
number of workers); the GPU idles in those waits, so utilization shows periodic dips and a
middling mean that no threshold on the mean catches. In the step times it is unmistakable:
a fast median, and slow steps at a fixed spacing. Judged every few logs on a window of
per-step times; random slow steps (a shared CPU) are not regular, and periods longer than
`input_stall_max_period` are evaluations and checkpoints, by design. Slow steps must also
wait alike (a fetch that takes the same time each time): a busy CPU preempts a process for
any length of time.
"""

from __future__ import annotations

from collections import Counter, deque

from cockpit.health.context import RunContext, at_step, fmt
from cockpit.health.rolling import median_of
from cockpit.model.alert import Alert

DETECTOR = "input_stall"


class InputStallDetector:
    def __init__(self, ctx: RunContext, metric: str = "step_time_ms") -> None:
        self.ctx = ctx
        self.metric = metric
        self._window: deque[tuple[int, float]] = deque(maxlen=ctx.config.input_stall_window_logs)
        self._since = 0
        self._open = False

    def update(self, step: int | None, ts: float | None, value: float) -> list[Alert]:
        if step is None or value <= 0:
            return []
        cfg = self.ctx.config
        self._window.append((step, value))
        self._since += 1
        if self._since < cfg.input_stall_every_logs or len(self._window) < cfg.input_stall_window_logs:
            return []
        self._since = 0
        found = self._periodic()
        if self._open:
            if found is None:
                self._open = False
                self.ctx.release(DETECTOR, self.metric)
            return []
        if found is None or not self.ctx.claim(DETECTOR, self.metric):
            return []
        self._open = True
        return [self._alert(step, ts, *found)]

    def _periodic(self) -> tuple[int, float, float, float, int] | None:
        """(period, median ms, slow median ms, share of time waiting, slow steps) or None."""
        cfg = self.ctx.config
        times = [v for _, v in self._window]
        typical = median_of(times)
        cut = max(cfg.input_stall_slow_ratio * typical, typical + cfg.input_stall_min_extra_ms)
        slow = [(s, v) for s, v in self._window if v > cut]
        if len(slow) < cfg.input_stall_min_slow or len(slow) > 0.4 * len(times):
            return None
        gaps = [b[0] - a[0] for a, b in zip(slow, slow[1:], strict=False)]
        period, _ = Counter(gaps).most_common(1)[0]
        regular = sum(1 for g in gaps if abs(g - period) <= period // 10)  # exact below 10
        if (not cfg.input_stall_min_period <= period <= cfg.input_stall_max_period
                or regular < cfg.input_stall_regularity * len(gaps)):
            return None
        waits = sorted(v for _, v in slow)
        spread = waits[3 * len(waits) // 4] - waits[len(waits) // 4]
        if spread > cfg.input_stall_max_spread * median_of(waits):
            return None  # waits of every length: preemption on a busy CPU, not one slow fetch
        waiting = sum(v - typical for _, v in slow) / sum(times)
        if waiting < cfg.input_stall_min_share:
            return None
        return period, typical, median_of([v for _, v in slow]), waiting, len(slow)

    def _alert(self, step: int | None, ts: float | None, period: int, typical: float,
               slow: float, waiting: float, n: int) -> Alert:
        cfg = self.ctx.config
        rule = (f"over the last {cfg.input_stall_window_logs} logs, >= {cfg.input_stall_min_slow} "
                f"steps slower than max({cfg.input_stall_slow_ratio:g}x the median, median + "
                f"{cfg.input_stall_min_extra_ms:g} ms), {cfg.input_stall_regularity:.0%} of them "
                f"a fixed 2..{cfg.input_stall_max_period} steps apart, costing >= "
                f"{cfg.input_stall_min_share:.0%} of the time")
        return self.ctx.alert(
            DETECTOR, "warning", step, ts, self.metric,
            f"the input pipeline stalls periodically: about 1 step in {period} takes "
            f"{fmt(slow)} ms instead of {fmt(typical)} ms ({n} such steps up to {at_step(step)}), "
            f"so {waiting:.0%} of the time is spent waiting for data and the GPU's utilization "
            f"dips every {period} steps. Rule: {rule}. Next: the data loader: more workers "
            f"(a period of {period} often equals num_workers), prefetch_factor, "
            "persistent_workers, pin_memory, and per-sample work (decoding, tokenization) "
            "moved out of __getitem__.",
            {"period_steps": period, "median_ms": typical, "slow_median_ms": slow,
             "waiting_share": round(waiting, 4), "slow_steps": n, "rule": rule},
        )
