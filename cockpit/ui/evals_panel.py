"""The eval tab: the evals in the history (plus files opened or dropped here), and for the one
picked its metrics with intervals, slices, calibration, samples, a two-run diff and triage.

Start-up stays cheap: this module imports only Qt; the eval widgets (cockpit.ui.eval_tab) are
built when the first eval is shown, and the eval core (cockpit.evals) and triage
(cockpit.triage) are imported by jobs on the panel's worker thread. Everything that touches an
eval's sample table (loading, summaries, `warm()`, filters, diffs) runs on that one worker in
order, so filters never race the table's cache building and the GUI thread only reads columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.eval_text import display_name, plain_tooltip
from cockpit.ui.eval_worker import SerialWorker

EVAL_SUFFIXES = (".eval", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".zip")
FILE_FILTER = ("Eval logs (*.eval *.json *.jsonl *.ndjson *.csv *.tsv *.parquet *.zip);;"
               "All files (*)")
KEEP_STORED_RUNS = 4  # evals read back from the history kept in memory (files opened: all)
MAX_FILTER_VALUES = 500
ID_ROLE = Qt.ItemDataRole.UserRole


@dataclass(slots=True)
class EvalView:
    """The eval on screen: its run (columns) and summary, computed on the worker."""

    eval_id: str
    run: Any
    summary: Any
    values: dict[str, dict[str, int]] | None = None  # filterable fields, once indexed
    positions: dict[str, int] | None = field(default=None, repr=False)

    def position(self, sample_id: str) -> int | None:
        if self.positions is None:
            self.positions = {str(s): i for i, s in enumerate(self.run.table.sample_ids)}
        return self.positions.get(sample_id)


def list_evals(cur: Any) -> list[tuple[str, str, str, int]]:
    """(eval id, name, model, samples) of every stored eval, newest first."""
    return [(str(a), str(b or a), str(c or ""), int(d or 0)) for a, b, c, d in cur.execute(
        "SELECT e.eval_id, e.name, e.model, count(s.sample_id) FROM evals e "
        "LEFT JOIN eval_samples s USING (eval_id) GROUP BY e.eval_id, e.name, e.model, "
        "e.created_at ORDER BY e.created_at DESC NULLS LAST, e.name").fetchall()]


class _Bridge(QObject):
    listed = Signal(object, object)  # (rows, error) once the list shows them


class EvalsPanel(QWidget):
    viewLoaded = Signal(str)  # eval id, once its summary is on screen
    indexed = Signal(str)  # eval id, once its filter caches are built (field filters offered)
    filtered = Signal(int)  # rows shown after a filter was applied
    opened = Signal(object)  # eval ids loaded from files ([] when none could be read)
    diffed = Signal(object)  # the PairedDiff shown, or None
    failed = Signal(str)  # a job's one-sentence error

    def __init__(self, cursor_factory: Callable[[], Any] | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evalsPanel")
        self.setAcceptDrops(True)
        self.worker = SerialWorker("cockpit-evals", cursor_factory, self)
        self.bridge = _Bridge(self)
        self.writer: Any = None
        self.view: EvalView | None = None
        self.tab: Any = None  # EvalTab, built with the first eval shown
        self._runs: dict[str, Any] = {}  # eval id -> EvalRun in memory
        self._opened: dict[str, Any] = {}  # runs from files opened here (kept)
        self._stored: list[tuple[str, str, str, int]] = []
        self._load_seq = 0
        self._filter_seq = 0

        self.evals = QListWidget()
        self.evals.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.evals.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.evals.setSpacing(2)
        self.evals.setToolTip("Evals in the history and files opened here; drop eval files on "
                              "this panel to open them")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open eval files: Inspect .eval/.json, lm-eval results, "
                                    "OpenAI evals JSONL, promptfoo JSON, JSONL/CSV/Parquet")
        self.refresh_button = QPushButton("Refresh")
        self.placeholder = QLabel(
            "Pick an eval on the left, or open or drop an eval file here (Inspect .eval/.json, "
            "lm-eval results, OpenAI evals JSONL, promptfoo JSON, generic JSONL/CSV/Parquet).")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.evals, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.refresh_button)
        ll.addLayout(buttons)
        self.right = QWidget()
        self._right_layout = QVBoxLayout(self.right)
        self._right_layout.setContentsMargins(0, 0, 0, 0)
        self._right_layout.addWidget(self.placeholder)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(left)
        self.split.addWidget(self.right)
        self.split.setStretchFactor(0, 0)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([270, 1200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.status)
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self.open_dialog)
        self.evals.currentItemChanged.connect(self._on_pick)

    # ---- wiring ----------------------------------------------------------------------
    def set_writer(self, writer: Any) -> None:
        """The store's writer: opened files are stored in the history, triage labels saved
        and LLM replies cached. Without one, opened evals live in memory only."""
        self.writer = writer

    def _ensure_tab(self) -> Any:
        if self.tab is None:
            from cockpit.ui.eval_tab import EvalTab

            tab = EvalTab()
            self.placeholder.hide()
            self._right_layout.addWidget(tab)
            tab.filter_bar.changed.connect(self.apply_filter)
            tab.samples.selectionModel().currentRowChanged.connect(self._sample_selected)
            tab.slices.doubleClicked.connect(self._slice_activated)
            tab.diff.compareRequested.connect(self.compare_with)
            tab.triage.sampleRequested.connect(self.show_sample)
            self.tab = tab
        return self.tab

    @property
    def summary(self) -> Any:
        """The metric cards (`toPlainText()` says what they show)."""
        return self._ensure_tab().summary

    @property
    def model(self) -> Any:
        """The sample table's model."""
        return self._ensure_tab().model

    def _say(self, text: str, warn: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.current().severity['warning']}" if warn else "")
        if warn:
            self.failed.emit(text)

    # ---- the list --------------------------------------------------------------------
    def refresh(self) -> bool:
        """Re-read the stored evals (a cheap SQL query on the worker)."""
        return self.worker.submit(lambda: list_evals(self.worker.cursor()), self._on_listed)

    def _on_listed(self, rows: list[tuple[str, str, str, int]] | None, error: str | None) -> None:
        if error is None and rows is not None:
            self._stored = rows
            self._fill_list()
            if not rows and not self._opened:
                self._say("No evals in the history yet: open or drop an eval file, or run "
                          "`cockpit eval summary FILE`.")
            elif self.view is None:
                self._say(f"{self.evals.count()} evals")
        else:
            self._say(error or "cannot list the evals", warn=True)
        self.bridge.listed.emit(rows, error)

    def entries(self) -> list[tuple[str, str]]:
        """(eval id, label) of every eval the list shows."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for eval_id, run in self._opened.items():
            if not any(eval_id == r[0] for r in self._stored):
                out.append((eval_id, _label(run.name, run.model, len(run)) + " · file"))
                seen.add(eval_id)
        for eval_id, name, model, n in self._stored:
            if eval_id not in seen:
                out.append((eval_id, _label(name, model, n)))
                seen.add(eval_id)
        return out

    def _fill_list(self) -> None:
        current = self.evals.currentItem()
        keep = current.data(ID_ROLE) if current is not None else None
        self.evals.blockSignals(True)  # rebuilding must not reload the eval on screen
        self.evals.clear()
        for eval_id, label in self.entries():
            item = QListWidgetItem(label)
            item.setData(ID_ROLE, eval_id)
            item.setToolTip(plain_tooltip(f"{label}\n(eval id {eval_id})"))
            self.evals.addItem(item)
            if eval_id == keep:
                self.evals.setCurrentItem(item)
        self.evals.blockSignals(False)
        if self.tab is not None and self.view is not None:
            self._update_candidates()

    def select(self, eval_id: str) -> bool:
        """Pick an eval in the list (loads it)."""
        for i in range(self.evals.count()):
            if self.evals.item(i).data(ID_ROLE) == eval_id:
                self.evals.setCurrentRow(i)
                return True
        return False

    def _on_pick(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None) -> None:
        if item is not None:
            self.load(item.data(ID_ROLE))

    # ---- opening files ---------------------------------------------------------------
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open eval files", "", FILE_FILTER)
        if paths:
            self.open_paths([Path(p) for p in paths])

    def open_paths(self, paths: list[Path]) -> bool:
        """Load eval files (or folders) on the worker; they join the list, the first is shown.
        With a writer they are also stored in the history, as `cockpit eval summary` does."""
        writer = self.writer

        def job() -> tuple[list[Any], list[str]]:
            from cockpit.evals.loaders import load_evals
            from cockpit.evals.store import store_eval

            runs: list[Any] = []
            errors: list[str] = []
            for path in paths:
                try:
                    got = load_evals(path)
                except Exception as err:  # one unreadable file must not stop the others
                    from cockpit.ui.eval_worker import error_sentence

                    errors.append(error_sentence(err))
                    continue
                runs.extend(got)
                if writer is not None:
                    for run in got:
                        store_eval(writer, run)
            if writer is not None and runs:
                try:
                    writer.flush(timeout=60.0)  # so the list query sees them
                except Exception as err:  # still shown from memory
                    errors.append(f"not stored in the history: {err}")
            return runs, errors

        self._say(f"opening {', '.join(p.name for p in paths)}…")
        return self.worker.submit(job, self._on_opened)

    def _on_opened(self, got: tuple[list[Any], list[str]] | None, error: str | None) -> None:
        runs, errors = got if got is not None else ([], [error or "cannot open the files"])
        for run in runs:
            self._opened[run.eval_id] = run
            self._runs[run.eval_id] = run
        self._fill_list()
        if errors:
            self._say("; ".join(errors), warn=True)
        ids = [r.eval_id for r in runs]
        if ids and self.writer is not None:
            self.refresh()
        if ids:
            self.select(ids[0])
            if not errors:
                self._say(f"opened {len(ids)} eval{'s' if len(ids) > 1 else ''}")
        self.opened.emit(ids)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _eval_files(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _eval_files(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)
        else:
            event.ignore()

    # ---- one eval --------------------------------------------------------------------
    def load(self, eval_id: str) -> bool:
        """Show an eval: read it (memory, else the history), summarize it, then index it."""
        self._ensure_tab()
        self._load_seq += 1
        seq = self._load_seq
        run = self._runs.get(eval_id)
        worker = self.worker

        def job() -> EvalView:
            from cockpit.evals.summary import summarize

            got = run
            if got is None:
                from cockpit.evals.store import load_stored_eval

                got = load_stored_eval(worker.cursor(), eval_id)
                if got is None:
                    raise ValueError(f"eval {eval_id} is no longer in the database")
            return EvalView(eval_id, got, summarize(got))

        self._say("loading the eval and computing its summary…")
        return worker.submit(job, lambda view, err: self._on_loaded(seq, view, err))

    def _on_loaded(self, seq: int, view: EvalView | None, error: str | None) -> None:
        if seq != self._load_seq:
            return  # another eval was picked meanwhile
        if error is not None or view is None:
            self._say(error or "could not load the eval", warn=True)
            return
        self._remember(view.eval_id, view.run)
        self.view = view
        tab = self._ensure_tab()
        run = view.run
        tab.show_summary(run, view.summary)
        tab.filter_bar.reset()
        tab.filter_bar.set_fields({})
        tab.model.set_table(run.table)
        tab.detail.clear()
        tab.diff.clear()
        self._update_candidates()
        tab.triage.set_run(run, self._copy_run, self.writer)
        self._count_label()
        worse = len(view.summary.worse_slices)
        self._say(f"{run.name}: {len(run):,} samples, failures first; {worse} slice"
                  f"{'' if worse == 1 else 's'} significantly worse; indexing for search…")
        self.viewLoaded.emit(view.eval_id)

        def warm() -> dict[str, dict[str, int]]:
            t = run.table
            t.warm()
            return {f: dict(islice(t.values(f).items(), MAX_FILTER_VALUES)) for f in t.fields()}

        self.worker.submit(warm, lambda values, err: self._on_indexed(seq, view, values, err))

    def _remember(self, eval_id: str, run: Any) -> None:
        self._runs.pop(eval_id, None)
        self._runs[eval_id] = run
        stored = [k for k in self._runs if k not in self._opened]
        for old in stored[:-KEEP_STORED_RUNS]:
            del self._runs[old]

    def _on_indexed(self, seq: int, view: EvalView, values: dict[str, dict[str, int]] | None,
                    error: str | None) -> None:
        if seq != self._load_seq or self.tab is None:
            return
        if error is not None or values is None:
            self._say(error or "could not index the eval", warn=True)
            return
        view.values = values
        self.tab.filter_bar.set_fields(values)
        self._say(f"{view.run.name}: {len(view.run):,} samples indexed; filter on "
                  f"{len(values)} metadata fields or search the text")
        self.indexed.emit(view.eval_id)

    # ---- filtering -------------------------------------------------------------------
    def apply_filter(self, spec: dict[str, Any]) -> None:
        """Filter the sample table (`SampleTable.mask` keywords); computed on the worker."""
        if self.view is None or self.tab is None:
            return
        self._filter_seq += 1
        seq = self._filter_seq
        if spec.get("where") is None and not spec.get("text") and spec.get("correct") is None:
            self.tab.model.set_mask(None)
            self._filtered()
            return
        run = self.view.run
        self.worker.submit(lambda: run.table.mask(**spec),
                           lambda mask, err: self._on_mask(seq, run, mask, err))

    def _on_mask(self, seq: int, run: Any, mask: Any, error: str | None) -> None:
        if seq != self._filter_seq or self.view is None or self.view.run is not run:
            return  # a newer filter (or another eval) wins
        if error is not None:
            self._say(error, warn=True)
            return
        self.tab.model.set_mask(mask)
        self._filtered()

    def _filtered(self) -> None:
        self._count_label()
        self.tab.detail.clear()
        self.filtered.emit(self.tab.model.rowCount())

    def _count_label(self) -> None:
        if self.view is None or self.tab is None:
            return
        shown, total = self.tab.model.rowCount(), len(self.view.run)
        self.tab.filter_bar.count.setText(f"{shown:,} of {total:,}" if shown != total
                                          else f"{total:,} samples")

    def _sample_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.view is None or not current.isValid():
            return
        pos = self.tab.model.position(current.row())
        self.tab.detail.show_sample(self.view.run.table.row(pos))

    def _slice_activated(self, index: QModelIndex) -> None:
        """Double-clicked slice: its samples in the sample table."""
        if self.tab is None:
            return
        source = self.tab.slice_proxy.mapToSource(index)
        s = self.tab.slice_model.slices[source.row()]
        self.tab.tabs.setCurrentIndex(1)
        self.tab.filter_bar.select(field=s.field, value=s.value)

    def show_sample(self, sample_id: str) -> bool:
        """Open one sample by id in the sample detail (a triage example, a diff item)."""
        if self.view is None or self.tab is None:
            return False
        pos = self.view.position(sample_id)
        if pos is None:
            self._say(f"sample {sample_id} is not in this eval", warn=True)
            return False
        tab = self.tab
        tab.tabs.setCurrentIndex(1)
        row = tab.model.row_of(pos)
        if row is not None:
            tab.samples.selectRow(row)
            tab.samples.scrollTo(tab.model.index(row, 0))
        tab.detail.show_sample(self.view.run.table.row(pos))
        return True

    # ---- two-run diff and triage -------------------------------------------------------
    def _update_candidates(self) -> None:
        if self.view is None or self.tab is None:
            return
        run = self.view.run
        others = [(i, label) for i, label in self.entries() if i != self.view.eval_id]
        # Runs of the same task with as many samples first: the likely comparison.
        base = display_name(run.name, run.model)[0]
        others.sort(key=lambda e: (not e[1].startswith(f"{base}\n"), e[1]))
        self.tab.diff.set_candidates(" · ".join(p for p in display_name(run.name, run.model) if p),
                                     [(i, label.replace("\n", " · ")) for i, label in others])

    def compare_with(self, b_id: str) -> bool:
        """Paired diff of the eval on screen (A) against `b_id` (B), on the worker."""
        if self.view is None:
            return False
        run_a = self.view.run
        run_b = self._runs.get(b_id)
        worker = self.worker

        def job() -> tuple[Any, Any]:
            from cockpit.evals.stats.paired import paired_diff

            b = run_b
            if b is None:
                from cockpit.evals.store import load_stored_eval

                b = load_stored_eval(worker.cursor(), b_id)
                if b is None:
                    raise ValueError(f"eval {b_id} is no longer in the database")
            return paired_diff(run_a, b), b

        self._say("pairing the two runs…")
        return worker.submit(job, lambda got, err: self._on_diff(run_a, b_id, got, err))

    def _on_diff(self, run_a: Any, b_id: str, got: tuple[Any, Any] | None,
                 error: str | None) -> None:
        if self.view is None or self.view.run is not run_a or self.tab is None:
            return
        if error is not None or got is None:
            self.tab.diff.set_error(error or "cannot compare the runs")
            self._say(error or "cannot compare the runs", warn=True)
            self.diffed.emit(None)
            return
        diff, run_b = got
        if b_id not in self._runs:
            self._remember(b_id, run_b)
        self.tab.diff.set_result(diff, run_a, run_b)
        self._say(f"{diff.n_shared:,} shared items: {len(diff.regressed):,} regressed, "
                  f"{len(diff.fixed):,} fixed, {len(diff.both_wrong):,} wrong in both")
        self.diffed.emit(diff)

    def _copy_run(self, callback: Callable[[Any, str | None], None]) -> None:
        """A copy of the run on screen for the triage thread, made on the worker (which owns
        the original's caches)."""
        if self.view is None:
            callback(None, "no eval on screen")
            return
        run = self.view.run

        def job() -> Any:
            import numpy as np

            return run.select(np.ones(len(run), dtype=bool))

        self.worker.submit(job, callback)

    def close_runner(self) -> None:
        if self.tab is not None:
            self.tab.triage.wait(5.0)
        self.worker.close()


def _label(name: str, model: str | None, n: int) -> str:
    task, shown_model = display_name(name, model)
    second = f"{shown_model} · {n:,} samples" if shown_model else f"{n:,} samples"
    return f"{task}\n{second}"


def _eval_files(urls: list[Any]) -> list[Path]:
    out = []
    for url in urls:
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_file() and path.suffix.lower() in EVAL_SUFFIXES:
                out.append(path)
    return out
