"""The two-run diff view: the current eval (A) against another (B) item by item: regressed,
fixed and both-wrong buckets with their counts and ids, McNemar's exact p, the paired
difference with its bootstrap interval, and the minimum detectable effect."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.eval_detail import SampleDetail

BUCKETS = (("regressed", "Regressed", "A right, B wrong"),
           ("fixed", "Fixed", "A wrong, B right"),
           ("both_wrong", "Both wrong", "wrong in A and in B"))


def fmt(x: float, digits: int = 3, sign: bool = False) -> str:
    if not math.isfinite(x):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def diff_lines(d: Any) -> list[str]:
    """What the view says about a `PairedDiff`, line by line (plain text)."""
    if d.n_shared == 0:
        return ["The two runs share no graded sample ids: nothing to pair."]
    e = d.difference
    verdict = ("significant at 0.05" if d.significant else "not significant at 0.05")
    lines = [
        f"{d.metric}: A {fmt(d.a_value)} → B {fmt(d.b_value)} on {d.n_shared:,} shared items"
        + (f" ({d.n_only_a:,} only in A, {d.n_only_b:,} only in B)" if d.n_only_a or d.n_only_b
           else ""),
        f"B − A = {fmt(e.value, sign=True)}  95% CI [{fmt(e.low, sign=True)}, "
        f"{fmt(e.high, sign=True)}]  ({e.method})",
        f"{d.test}: p = {fmt_p(d.p_value)} ({verdict}) · minimum detectable effect "
        f"{fmt(d.mde)} (80% power, two-sided α 0.05)",
    ]
    lines.extend(d.notes)
    return lines


class DiffView(QWidget):
    compareRequested = Signal(str)  # the eval id of B

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: Any = None
        self.run_a: Any = None
        self.run_b: Any = None
        self._pos_a: dict[str, int] | None = None
        self._pos_b: dict[str, int] | None = None
        self.pick = QComboBox()
        self.pick.setMinimumContentsLength(30)
        self.pick.setToolTip("The run to compare the current eval (A) with")
        self.go = QPushButton("Compare")
        self.a_label = QLabel("")
        self.a_label.setTextFormat(Qt.TextFormat.PlainText)
        self.stats = QLabel("Pick a run B with the same items and press Compare.")
        self.stats.setTextFormat(Qt.TextFormat.PlainText)
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.counts: dict[str, QLabel] = {}
        self.lists: dict[str, QListView] = {}
        self.models: dict[str, QStringListModel] = {}
        self.both_right = QLabel("")
        self.detail = SampleDetail()

        top = QHBoxLayout()
        top.addWidget(self.a_label)
        top.addWidget(QLabel("  vs B:"))
        top.addWidget(self.pick, 1)
        top.addWidget(self.go)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        for col, (key, title, tip) in enumerate(BUCKETS):
            count = QLabel(f"{title}: —")
            count.setTextFormat(Qt.TextFormat.PlainText)
            count.setToolTip(tip)
            model = QStringListModel(self)
            view = QListView()
            view.setModel(model)
            view.setUniformItemSizes(True)
            view.setToolTip(f"{title} ({tip}): click an id to see both outputs")
            view.clicked.connect(lambda index, k=key: self._show_item(k, index.data()))
            grid.addWidget(count, 0, col)
            grid.addWidget(view, 1, col)
            self.counts[key], self.lists[key], self.models[key] = count, view, model
        grid.addWidget(self.both_right, 2, 0, 1, len(BUCKETS))
        buckets = QWidget()
        buckets.setLayout(grid)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(buckets)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.stats)
        layout.addWidget(split, 1)
        self.go.clicked.connect(self._request)

    def set_candidates(self, a_name: str, candidates: list[tuple[str, str]]) -> None:
        """A's name and the runs B may be: (eval id, label)."""
        self.a_label.setText(f"A: {a_name}")
        keep = self.pick.currentData()
        self.pick.blockSignals(True)
        self.pick.clear()
        for eval_id, label in candidates:
            self.pick.addItem(label, eval_id)
        i = self.pick.findData(keep) if keep is not None else -1
        if i >= 0:
            self.pick.setCurrentIndex(i)
        self.pick.blockSignals(False)
        self.go.setEnabled(bool(candidates))

    def select_b(self, eval_id: str) -> bool:
        i = self.pick.findData(eval_id)
        if i < 0:
            return False
        self.pick.setCurrentIndex(i)
        return True

    def _request(self) -> None:
        eval_id = self.pick.currentData()
        if eval_id:
            self.stats.setText("comparing…")
            self.compareRequested.emit(str(eval_id))

    def clear(self) -> None:
        self.result = self.run_a = self.run_b = None
        self._pos_a = self._pos_b = None
        self.stats.setText("Pick a run B with the same items and press Compare.")
        self.stats.setStyleSheet("")
        for key, title, _tip in BUCKETS:
            self.counts[key].setText(f"{title}: —")
            self.models[key].setStringList([])
        self.both_right.setText("")
        self.detail.clear()

    def set_error(self, message: str) -> None:
        self.stats.setText(message)
        self.stats.setStyleSheet(f"color: {theme.current().severity['warning']}")

    def set_result(self, diff: Any, run_a: Any, run_b: Any) -> None:
        self.result, self.run_a, self.run_b = diff, run_a, run_b
        self._pos_a = self._pos_b = None
        self.stats.setText("\n".join(diff_lines(diff)))
        t = theme.current()
        self.stats.setStyleSheet(f"color: {t.severity['warning']}" if diff.significant else "")
        tones = {"regressed": t.severity["critical"], "fixed": t.status["running"],
                 "both_wrong": t.severity["warning"]}
        for key, title, _tip in BUCKETS:
            ids = list(getattr(diff, key))
            self.counts[key].setStyleSheet(f"color: {tones[key]}; font-weight: bold")
            self.counts[key].setText(f"{title}: {len(ids):,}")
            self.models[key].setStringList([str(i) for i in ids])
        self.both_right.setText(f"Both right: {diff.both_right:,}")
        self.detail.clear()

    def _show_item(self, _bucket: str, sample_id: str) -> None:
        if self.run_a is None or self.run_b is None:
            return
        if self._pos_a is None or self._pos_b is None:
            self._pos_a = {str(s): i for i, s in enumerate(self.run_a.table.sample_ids)}
            self._pos_b = {str(s): i for i, s in enumerate(self.run_b.table.sample_ids)}
        ia, ib = self._pos_a.get(sample_id), self._pos_b.get(sample_id)
        if ia is None or ib is None:
            return
        self.detail.show_pair(self.run_a.table.row(ia), self.run_b.table.row(ib),
                              self.run_a.model or self.run_a.name,
                              self.run_b.model or self.run_b.name)
