"""Failure triage in the eval tab: why the current eval's model fails, in categories that carry
counts, shares with intervals, over-represented slices and real sample ids.

Offline by default (heuristics, nothing leaves the machine, every category marked heuristic).
LLM mode sends redacted failures to an OpenAI-compatible endpoint only after the user agreed
once for that endpoint and saw the token and cost estimate under a hard cost cap. The API key
stays in the core's `Endpoint` (from the environment or the keyring): this panel shows only
where it came from. Category names, definitions and rationales come from a model and are
untrusted: every widget here shows them as plain text.

The triage runs on its own thread (`Triage.prepare/estimate/run` from cockpit.triage, imported
there: the `openai` client costs ~1 s to import) with progress and cancel.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.eval_slices import INTERVAL_ROLE, WORSE_ROLE, IntervalBarDelegate
from cockpit.ui.eval_text import plain_tooltip
from cockpit.ui.table_model import FixedColumnsModel

OFFLINE, LLM = 0, 1
STAGES = {"first_pass": "first pass (not model errors)", "features": "language and text features",
          "offline": "heuristic categories", "propose": "proposing categories",
          "assign": "labelling failures", "verify": "verifying categories",
          "quantify": "counting and testing slices", "copy": "preparing", "estimate": "estimating"}
COLUMNS = ("Category", "Count", "Share [95% CI]", "Kind", "Over-represented")
NAME, COUNT, SHARE, KIND, OVER = range(len(COLUMNS))

ModelIndex = QModelIndex | QPersistentModelIndex
Ask = Callable[[str, str], bool]


def pct(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def over_text(o: Any) -> str:
    """One over-represented slice, from the numbers the core computed."""
    return (f"{o.field} = {o.value}: {o.count} of {o.n_category} ({pct(o.share_in_category)}) "
            f"vs {pct(o.share_elsewhere)} of other failures, p_adj {o.p_adjusted:.2g}")


class CategoryModel(FixedColumnsModel):
    """Triage categories (TriageCategory) as table rows; `scale`/`overall` feed the bar delegate."""

    columns = COLUMNS

    scale = (0.0, 1.0)
    overall = math.nan

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.categories: list[Any] = []

    def set_categories(self, categories: list[Any]) -> None:
        self.beginResetModel()
        self.categories = list(categories)
        self.endResetModel()

    def row_count(self) -> int:
        return len(self.categories)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        c = self.categories[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                return str(c.name)
            if col == COUNT:
                return f"{c.count:,}"
            if col == SHARE:
                return f"{pct(c.share.value)} [{pct(c.share.low)}, {pct(c.share.high)}]"
            if col == KIND:
                if not c.heuristic:
                    return "LLM"
                return "heuristic" if c.method == "heuristic" else f"heuristic · {c.method}"
            return "; ".join(f"{o.field}={o.value}" for o in c.overrepresented[:3])
        if role == INTERVAL_ROLE and col == SHARE:
            return (c.share.value, c.share.low, c.share.high)
        if role == WORSE_ROLE:
            return False
        if role == Qt.ItemDataRole.ForegroundRole and col == KIND and c.heuristic:
            return QBrush(QColor(theme.current().severity["warning"]))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col in (NAME, OVER):
            lines = [str(c.definition)] + [over_text(o) for o in c.overrepresented]
            return plain_tooltip("\n".join(lines))
        return None


class _Bridge(QObject):
    """Signals from the triage thread, delivered queued on the GUI thread."""

    progress = Signal(str, int, int)
    estimated = Signal(object, object)  # (CostEstimate | None, error)
    finished = Signal(object, object)  # (TriageResult | None, error)


class TriagePanel(QWidget):
    sampleRequested = Signal(str)  # a sample id to show in the sample detail
    finished = Signal(object)  # the TriageResult, or None when it failed or was cancelled
    estimated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_: Any = None
        self.copy_run: Callable[[Callable[[Any, str | None], None]], None] | None = None
        self.writer: Any = None
        self.result: Any = None
        self.estimate: Any = None
        self.ask: Ask = self._ask_dialog  # tests replace it: no modal dialog offscreen
        self._triage: Any = None
        self._triage_key: tuple[Any, ...] | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._endpoint: Any = None
        self._want_run = False
        self._excluded: tuple[str, ...] = ()
        self.bridge = _Bridge(self)
        self.bridge.progress.connect(self._on_progress)
        self.bridge.estimated.connect(self._on_estimated)
        self.bridge.finished.connect(self._on_finished)

        self.mode = QComboBox()
        self.mode.addItems(["Offline: heuristics, nothing is sent",
                            "LLM: OpenAI-compatible endpoint"])
        self.base_url = QLineEdit(os.environ.get("OPENAI_BASE_URL", ""))
        self.base_url.setPlaceholderText("https://api.openai.com/v1 or http://localhost:8000/v1")
        self.model_name = QLineEdit(os.environ.get("COCKPIT_LLM_MODEL", ""))
        self.model_name.setPlaceholderText("model (gpt-4o-mini)")
        self.ignore_fields = QLineEdit()
        self.ignore_fields.setPlaceholderText("field,field")
        self.ignore_fields.setMinimumWidth(260)
        self.ignore_fields.setToolTip("Metadata fields never sliced or sent, comma-separated: "
                                      "e.g. ground-truth labels (as --ignore-field)")
        self.key_label = QLabel("")
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        self.max_cost = QDoubleSpinBox()
        self.max_cost.setPrefix("max $")
        self.max_cost.setDecimals(2)
        self.max_cost.setRange(0.01, 1000.0)
        self.max_cost.setValue(1.00)
        self.max_cost.setToolTip("Hard cap: no call is sent whose worst case would pass it")
        self.estimate_button = QPushButton("Estimate cost")
        self.run_button = QPushButton("Run triage")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.stage = QLabel("")
        self.stage.setTextFormat(Qt.TextFormat.PlainText)
        self.estimate_label = QLabel("")
        self.estimate_label.setTextFormat(Qt.TextFormat.PlainText)
        self.estimate_label.setWordWrap(True)
        self.banner = QLabel("")
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # numbers from Cockpit, names from a model
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.model = CategoryModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(SHARE, IntervalBarDelegate(self.model, self.table,
                                                                       text_width=112))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(NAME, 185)
        self.table.setColumnWidth(COUNT, 50)
        self.table.setColumnWidth(SHARE, 210)
        self.table.setColumnWidth(KIND, 195)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a category to see its definition, evidence and "
                                        "over-represented slices.")
        self.examples_model = QStringListModel(self)
        self.examples = QListView()
        self.examples.setModel(self.examples_model)
        self.examples.setToolTip("Example sample ids: click one to open it in the sample detail")
        self.examples.setMaximumHeight(110)

        controls = QHBoxLayout()
        controls.addWidget(self.mode)
        controls.addWidget(self.base_url, 2)
        controls.addWidget(self.model_name, 1)
        controls.addWidget(self.key_label)
        controls.addWidget(self.max_cost)
        controls.addWidget(self.estimate_button)
        run_row = QHBoxLayout()
        run_row.addWidget(QLabel("Ignore fields:"))
        run_row.addWidget(self.ignore_fields)
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(self.stage, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.details, 1)
        rl.addWidget(QLabel("Examples (click to open):"))
        rl.addWidget(self.examples)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([860, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.estimate_label)
        layout.addLayout(run_row)
        layout.addWidget(self.banner)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)

        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.estimate_button.clicked.connect(self.request_estimate)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.table.selectionModel().currentRowChanged.connect(self._category_selected)
        self.examples.clicked.connect(lambda index: self.sampleRequested.emit(str(index.data())))
        for edit in (self.base_url, self.model_name):
            edit.textChanged.connect(self._endpoint_changed)
        self._mode_changed()

    # ---- state ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_run(self, run: Any,
                copy_run: Callable[[Callable[[Any, str | None], None]], None] | None = None,
                writer: Any = None) -> None:
        """The eval to triage. `copy_run(callback)` hands the triage thread its own copy of the
        run (made on the eval tab's worker, which owns the original's caches)."""
        if self.running:
            self.cancel()
        self.run_, self.copy_run, self.writer = run, copy_run, writer
        self._triage = None
        self._triage_key = None
        self.result = None
        self.estimate = None
        self.model.set_categories([])
        self.details.clear()
        self.examples_model.setStringList([])
        self.banner.setText("")
        self.summary.setText("Run triage to group this eval's failures into categories." if run
                             is not None else "")
        self.estimate_label.setText("")
        self.stage.setText("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _mode_changed(self) -> None:
        llm = self.mode.currentIndex() == LLM
        for w in (self.base_url, self.model_name, self.max_cost, self.estimate_button,
                  self.key_label):
            w.setEnabled(llm)
        self._endpoint_changed()

    def _endpoint_changed(self) -> None:
        self.estimate = None
        self.estimate_label.setText("")
        self.estimate_label.hide()
        if self.mode.currentIndex() != LLM:
            self.key_label.setText("")
            return
        endpoint, error = self._resolve()
        if error:
            self.key_label.setText("endpoint: not usable")
            self.key_label.setToolTip(plain_tooltip(error))
        elif endpoint is None:
            self.key_label.setText("no endpoint set")
            self.key_label.setToolTip("Give a base URL, or set OPENAI_BASE_URL / OPENAI_API_KEY")
        else:
            source = {"env": "key: OPENAI_API_KEY", "keyring": "key: OS keyring"}.get(
                endpoint.key_source, "no key")
            self.key_label.setText(source)
            self.key_label.setToolTip(plain_tooltip(endpoint.describe()))

    def _resolve(self) -> tuple[Any, str | None]:
        from cockpit.triage.endpoint import EndpointError, resolve_endpoint

        try:
            return resolve_endpoint(self.base_url.text().strip() or None,
                                    self.model_name.text().strip() or None), None
        except EndpointError as err:
            return None, str(err)

    # ---- running ----------------------------------------------------------------------
    def request_estimate(self) -> bool:
        """LLM mode: prepare locally and show the token and cost estimate (nothing is sent)."""
        self._want_run = False
        return self._begin(estimate_only=True)

    def start(self) -> bool:
        """Run the triage: offline at once; LLM after consent, an estimate and a confirmation."""
        if self.mode.currentIndex() == OFFLINE:
            return self._begin(estimate_only=False)
        endpoint, error = self._resolve()
        if error or endpoint is None:
            self._fail(error or "no endpoint configured: give a base URL (or set "
                       "OPENAI_BASE_URL / OPENAI_API_KEY), or run offline")
            return False
        from cockpit.triage.consent import grant_consent, has_consent

        if not has_consent(endpoint.base_url):
            allowed = self.ask(
                "Send eval samples to an endpoint?",
                f"Triage sends the inputs, targets and outputs of this eval's failures to "
                f"{endpoint.base_url} (model {endpoint.model}) to name and assign failure "
                "categories. Secrets, keys and e-mail addresses are redacted first. "
                "Cockpit asks once per endpoint. Allow sending to this endpoint?")
            if not allowed:
                self._fail(f"not sent: no consent for {endpoint.base_url}")
                return False
            grant_consent(endpoint.base_url)
        self._want_run = True
        return self._begin(estimate_only=True)

    def _begin(self, estimate_only: bool) -> bool:
        if self.run_ is None or self.running:
            return False
        endpoint = None
        if estimate_only:
            endpoint, error = self._resolve()
            if error or endpoint is None:
                self._fail(error or "no endpoint configured: give a base URL, or run offline")
                return False
        self._endpoint = endpoint
        self._excluded = tuple(f.strip() for f in self.ignore_fields.text().split(",")
                               if f.strip())
        self._cancel = threading.Event()
        self.result = None
        self._busy(True)
        self._on_progress("copy", 0, 1)
        key = (id(self.run_), endpoint.base_url if endpoint else None,
               endpoint.model if endpoint else None, self._excluded)

        def with_copy(run: Any, error: str | None = None) -> None:
            if error is not None or run is None:
                self._on_finished(None, error or "no eval to triage")
                return
            if estimate_only:
                self._spawn(lambda: self._estimate_job(run, endpoint, key), "cockpit-triage-est")
            else:
                self._spawn(lambda: self._run_job(run, None), "cockpit-triage")

        if self._triage is not None and self._triage_key == key:
            with_copy(self._triage.run_)
        elif self.copy_run is not None:
            self.copy_run(with_copy)
        else:
            with_copy(self.run_)
        return True

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        if self._cancel.is_set():
            self._on_finished(None, "cancelled")
            return
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def _make_triage(self, run: Any, endpoint: Any) -> Any:
        from cockpit.triage.pipeline import Triage, TriageConfig
        from cockpit.triage.redact import Redactor

        keys = [endpoint.api_key] if endpoint is not None else []
        config = TriageConfig(exclude_fields=self._excluded)
        return Triage(run, config, progress=self._emit_progress, cancel=self._cancel,
                      redactor=Redactor(keys))

    def _emit_progress(self, stage: str, done: int, total: int) -> None:
        with contextlib.suppress(RuntimeError):  # the panel is gone
            self.bridge.progress.emit(stage, done, total)

    def _estimate_job(self, run: Any, endpoint: Any, key: tuple[Any, ...]) -> None:
        try:
            from cockpit.triage.cost import price_for

            triage = self._triage if (self._triage is not None and self._triage_key == key) \
                else self._make_triage(run, endpoint)
            triage.cancel = self._cancel
            triage.prepare()
            self._emit_progress("estimate", 0, 1)
            estimate = triage.estimate(price_for(endpoint.model, endpoint.base_url))
            self._triage, self._triage_key = triage, key
            self.bridge.estimated.emit(estimate, None)
        except Exception as err:
            self.bridge.estimated.emit(None, _sentence(err))

    def _on_estimated(self, estimate: Any, error: str | None) -> None:
        self._thread = None
        if error is not None or estimate is None:
            self._busy(False)
            self._fail(error or "no estimate")
            return
        self.estimate = estimate
        n = len(self._triage.prepare().model_errors) if self._triage is not None else 0
        text = (f"{n} model-error failures to send to {self._endpoint.model}: "
                f"{estimate.sentence()}; hard cap ${self.max_cost.value():.2f}.")
        self.estimate_label.setText(text)
        self.estimate_label.show()
        self.estimated.emit(text)
        if not self._want_run:
            self._busy(False)
            self.stage.setText("estimate ready: nothing was sent")
            return
        self._want_run = False
        if not self.ask("Run the triage?", text + "\n\nSend now?"):
            self._busy(False)
            self.stage.setText("not sent")
            return
        self._on_progress("propose", 0, 1)
        triage, endpoint, writer, cap = self._triage, self._endpoint, self.writer, \
            self.max_cost.value()
        self._spawn(lambda: self._llm_job(triage, endpoint, writer, cap), "cockpit-triage")

    def _llm_job(self, triage: Any, endpoint: Any, writer: Any, cap: float) -> None:
        try:
            from cockpit.triage.cache import DuckDbCache, MemoryCache
            from cockpit.triage.cost import price_for
            from cockpit.triage.llm import make_client

            cache = DuckDbCache(writer) if writer is not None else MemoryCache()
            client = make_client(endpoint, cap, price_for(endpoint.model, endpoint.base_url),
                                 cache)
            self._finish_job(triage, client)
        except Exception as err:
            self.bridge.finished.emit(None, _sentence(err))

    def _run_job(self, run: Any, client: Any) -> None:
        try:
            self._finish_job(self._make_triage(run, None), client)
        except Exception as err:
            self.bridge.finished.emit(None, _sentence(err))

    def _finish_job(self, triage: Any, client: Any) -> None:
        result = triage.run(client)
        if self.writer is not None:
            from cockpit.triage.store import store_labels

            store_labels(self.writer, result.eval_id, result.label_rows())
        self.bridge.finished.emit(result, None)

    def cancel(self) -> None:
        self._cancel.set()
        self.stage.setText("cancelling…")

    def wait(self, timeout: float = 5.0) -> None:
        """Stop the thread (app exit): cancel and join."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.estimate_button.setEnabled(not busy and self.mode.currentIndex() == LLM)
        self.mode.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1)

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        label = STAGES.get(stage, stage.replace("_", " "))
        if total > 1:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{done}/{total}")
        else:
            self.progress.setRange(0, 0)  # busy indicator for one-step stages
            self.progress.setFormat("")
        if not self._cancel.is_set():
            self.stage.setText(label)

    def _on_finished(self, result: Any, error: str | None) -> None:
        self._thread = None
        self._busy(False)
        if self._cancel.is_set() or error == "cancelled" or error == "Cancelled":
            self.stage.setText("cancelled: nothing kept")
            self.progress.setValue(0)
            self.finished.emit(None)
            return
        if error is not None or result is None:
            self._fail(error or "triage failed")
            self.finished.emit(None)
            return
        self.show_result(result)
        self.stage.setText(f"done: {len(result.categories)} categories")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("done")
        self.finished.emit(result)

    def _fail(self, message: str) -> None:
        self.stage.setText(message)
        self.stage.setStyleSheet(f"color: {theme.current().severity['warning']}")

    # ---- result -----------------------------------------------------------------------
    def show_result(self, r: Any) -> None:
        self.result = r
        self.stage.setStyleSheet("")
        t = theme.current()
        if r.mode == "offline":
            self.banner.setText(
                "HEURISTIC (offline): categories are tested slices of text features and "
                "metadata, then TF-IDF clusters; nothing was sent. "
                f"Language detector: {r.language_detector or 'none'}.")
            self.banner.setStyleSheet(f"color: {t.severity['warning']}; font-weight: bold")
        else:
            ep = r.endpoint or {}
            tokens = r.tokens or {}
            calls = r.calls or {}
            self.banner.setText(
                f"LLM: {ep.get('model', '?')} at {ep.get('base_url', '?')} · "
                f"{tokens.get('input', 0):,} input / {tokens.get('output', 0):,} output tokens · "
                f"${(r.cost_usd or 0.0):.4f} · {calls.get('calls', 0)} calls, "
                f"{calls.get('cache_hits', 0)} from cache")
            self.banner.setStyleSheet(f"color: {t.accent}")
        set_aside = ", ".join(f"{k.replace('_', ' ')} {len(v)}" for k, v in
                              sorted(r.not_model_errors.items(), key=lambda kv: -len(kv[1])))
        lines = [r.summary]
        if set_aside:
            lines.append(f"Set aside as not model errors: {set_aside}.")
        self.summary.setText("\n".join(lines))
        self.model.set_categories(r.categories)
        self.details.clear()
        self.examples_model.setStringList([])
        if r.categories:
            self.table.selectRow(0)

    def _category_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid() or self.result is None:
            return
        c = self.model.categories[current.row()]
        lines = [f"{c.name}  ({c.count} failures, {pct(c.share.value)} "
                 f"[{pct(c.share.low)}, {pct(c.share.high)}] of {c.share.n} labelled)",
                 "", str(c.definition), ""]
        lines.append(f"Made by: {'heuristic, ' + c.method if c.heuristic else 'the LLM'}")
        if c.merged_from:
            lines.append(f"Merged from: {', '.join(map(str, c.merged_from))}")
        for key, value in c.evidence.items():
            if value is not None:
                lines.append(f"Evidence {key.replace('_', ' ')}: {_evidence(value)}")
        if c.overrepresented:
            lines += ["", "Over-represented (Fisher exact vs other failures, BH-adjusted):"]
            lines += [f"  {over_text(o)}" for o in c.overrepresented]
        else:
            lines += ["", "No slice is over-represented in this category."]
        notes = self.result.notes
        if notes:
            lines += ["", "Notes:"] + [f"  {n}" for n in notes]
        self.details.setPlainText("\n".join(lines))
        self.examples_model.setStringList([str(e) for e in c.examples])

    def _ask_dialog(self, title: str, text: str) -> bool:
        box = QMessageBox(self)
        box.setWindowTitle(title)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes


def _evidence(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_evidence(v)}" for k, v in value.items())
    return str(value)


def _sentence(err: BaseException) -> str:
    name = type(err).__name__
    if name == "Cancelled":
        return "cancelled"
    from cockpit.ui.eval_worker import error_sentence

    return error_sentence(err)
