"""The main window: live charts in the middle, dockable runs, alerts, GPU, SQL, comparison and
eval panels around them, a layout that persists, and a frame timer that pulls fresh data.

Nothing here reads files or the database: the backend's threads ingest, the
LiveSeriesCache's thread reads, and the timer only moves their latest results on screen.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QWidget,
)

from cockpit.ui import theme
from cockpit.ui.alerts_panel import AlertsPanel
from cockpit.ui.charts_panel import ChartsPanel
from cockpit.ui.commands import CommandPalette, CommandRegistry
from cockpit.ui.compare_panel import ComparePanel
from cockpit.ui.evals_panel import EvalsPanel
from cockpit.ui.fleet_panel import FleetPanel
from cockpit.ui.frame_pacer import FramePacer
from cockpit.ui.gpu_panel import GpuPanel
from cockpit.ui.histograms_panel import HistogramsPanel
from cockpit.ui.hparams_panel import HParamsPanel
from cockpit.ui.live_cache import AlertRow, LiveSeriesCache, Snapshot
from cockpit.ui.notifier import AlertNotifier
from cockpit.ui.runs_panel import RunsPanel
from cockpit.ui.settings import AppSettings, SettingsDialog
from cockpit.ui.sql_console import SqlConsole

LAYOUT_VERSION = 2  # 2: the GPU panel moved under the runs
AUTO_SELECT = 6  # runs charted at start when the user has not picked any


class MainWindow(QMainWindow):
    snapshotApplied = Signal(int)  # snapshot seq, after every panel took it
    settingsChanged = Signal()  # the settings dialog was accepted
    remoteDone = Signal(str, str)  # url, error ("" when watching): from the connecting thread
    snapshotReady = Signal()  # the cache published a snapshot (emitted on its poller thread)

    def __init__(
        self,
        cache: LiveSeriesCache,
        cursor_factory: Callable[[], object],
        settings: QSettings,
        add_root: Callable[[Path], None] | None = None,
        status_source: Callable[[], tuple[str, str | None]] | None = None,
        title: str = "Cockpit",
        add_remote: Callable[[str, Callable[[str, str | None], None]], None] | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("cockpitMainWindow")
        self.setWindowTitle(title)
        self.resize(1500, 920)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.cache = cache
        self.qsettings = settings
        self.settings = AppSettings(settings)
        self._add_root = add_root
        self._add_remote = add_remote  # connects on a thread, then calls back with the error
        self.remoteDone.connect(self._remote_done)
        self._status_source = status_source
        self.snapshot_seq = 0
        self._first_alerts_seen = False
        self._colors: dict[str, str] = {}
        self._user_selected = False
        self._evals_seen = -1
        self.frame_ms: list[float] = []  # recent frame durations, for the status bar and tests

        self.charts = ChartsPanel(cache)
        self.setCentralWidget(self.charts)
        self.runs = RunsPanel()
        self.alerts = AlertsPanel()
        self.gpu = GpuPanel()
        self.sql = SqlConsole(cursor_factory, settings)
        self.compare = ComparePanel(cursor_factory)
        self.evals = EvalsPanel(cursor_factory)
        self.fleet = FleetPanel()
        self.histograms = HistogramsPanel(cursor_factory)
        self.hparams = HParamsPanel(cursor_factory)
        self.docks: dict[str, QDockWidget] = {}
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self._dock("runs", "Runs", self.runs, left)
        self._dock("gpu", "GPU", self.gpu, left)
        self.splitDockWidget(self.docks["runs"], self.docks["gpu"], Qt.Orientation.Vertical)
        self._dock("alerts", "Alerts", self.alerts, bottom)
        self._dock("sql", "SQL", self.sql, bottom)
        self._dock("compare", "Compare", self.compare, bottom)
        self._dock("evals", "Evals", self.evals, bottom)
        self._dock("fleet", "Fleet", self.fleet, bottom)  # a wide grid: the wide area
        self._dock("histograms", "Histograms", self.histograms, bottom)
        self._dock("hparams", "HParams", self.hparams, bottom)
        for name in ("sql", "compare", "evals", "fleet", "histograms", "hparams"):
            self.tabifyDockWidget(self.docks["alerts"], self.docks[name])
        # Read on demand: when their tab is shown (and again each time it is shown).
        self.docks["histograms"].visibilityChanged.connect(
            lambda shown: shown and self.refresh_histograms())
        self.docks["hparams"].visibilityChanged.connect(
            lambda shown: shown and self.hparams.refresh())
        self.docks["alerts"].raise_()
        self._sized = False
        self.default_state = self.saveState(LAYOUT_VERSION)

        self.notifier = AlertNotifier(self)
        self.notifier.on_open = self.open_alert
        self.notifier.min_severity = self.settings.desktop_min_severity
        self._wanted_run: str | None = None  # `cockpit app --run NAME`, until it shows up
        self.commands = CommandRegistry(self)
        self.palette_dialog = CommandPalette(self.commands, self)
        self._build_commands()
        self._build_status_bar()

        self.runs.runsSelected.connect(self._on_runs_selected)
        self.gpu.gpusAppeared.connect(self._give_gpus_room)
        self.alerts.alertActivated.connect(self.jump_to_alert)
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._follow_system_theme)

        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(int(1000 / self.settings.refresh_hz))
        self.frame_timer.timeout.connect(self.on_frame)
        self.pacer = FramePacer(self.frame_timer, lambda: int(1000 / self.settings.refresh_hz))
        QApplication.instance().installEventFilter(self.pacer)  # type: ignore[union-attr]
        self.snapshotReady.connect(self.pacer.wake)  # queued: emitted by the cache's poller
        cache.on_snapshot = self.snapshotReady.emit
        self.restore_layout()

    # ---- construction ------------------------------------------------------------------------
    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock

    def _build_commands(self) -> None:
        c = self.commands
        c.add("open_folder", "&Open Folder…", self.open_folder_dialog, QKeySequence.StandardKey.Open,
              "&File", tip="Watch a folder of runs")
        c.add("add_remote", "Add &Remote Folder…", self.add_remote_folder_dialog, None, "&File",
              tip="Watch runs on an SSH host or in a bucket (ssh://, s3://, gs://, az://)")
        c.add("forget_remote", "Forget Remote Folders", self.forget_remote_folders, None,
              "&File", tip="Stop re-opening the remote folders added before at start")
        self.recent_menu = c.menu("&File/Recent Folders")
        self._fill_recent()
        c.add("export_chart", "&Export Chart…", lambda: self.charts.export_dialog(None, "png"),
              "Ctrl+E", "&File")
        c.add("export_chart_svg", "Export Chart as SVG…",
              lambda: self.charts.export_dialog(None, "svg"), None, "&File")
        c.add("export_chart_csv", "Export Chart Data as CSV…",
              lambda: self.charts.export_dialog(None, "csv"), None, "&File")
        c.add_separator("&File")
        c.add("settings", "&Settings…", self.open_settings, "Ctrl+,", "&File")
        c.add("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit, "&File")

        c.add("palette", "Command Palette…", self.palette_dialog.open_fresh, "Ctrl+Shift+P", "&View")
        c.add("follow", "&Follow Live Data", self.charts.follow_all, "F", "&View",
              tip="Show all points and keep following new ones")
        c.add("log_y", "&Log Y Axis", lambda: self.charts.log_y.toggle(), "Ctrl+L", "&View")
        c.add("x_time", "Toggle X: Step / Wall Time",
              lambda: self.charts.x_mode.setCurrentIndex(1 - self.charts.x_mode.currentIndex()),
              "Ctrl+T", "&View")
        c.add_separator("&View")
        for i, (name, dock) in enumerate(self.docks.items()):
            c.add(f"show_{name}", f"Show {dock.windowTitle()} Panel",
                  functools.partial(self.show_dock, dock), f"Ctrl+{i + 1}", "&View/Panels")
        c.add("reset_layout", "Reset Layout", self.reset_layout, None, "&View")
        c.add("theme_system", "Theme: Follow System", lambda: self.set_theme("system"), None,
              "&View/Theme")
        c.add("theme_dark", "Theme: Dark", lambda: self.set_theme("dark"), None, "&View/Theme")
        c.add("theme_light", "Theme: Light", lambda: self.set_theme("light"), None, "&View/Theme")

        c.add("find_run", "Find Run…", self.focus_run_filter, "Ctrl+F", "&Go")
        c.add("next_alert", "Next Alert", self.select_next_alert, "Ctrl+J", "&Go")
        c.add("sql_run", "Run SQL Query", self.run_sql_from_anywhere, None, "&Go")
        c.add("compare_selected", "Compare Selected Runs", self.compare_selected, "Ctrl+Shift+C",
              "&Go")
        c.add("select_all_runs", "Chart All Runs", lambda: self.runs.tree.selectAll(),
              "Ctrl+Shift+A", "&Go")
        c.add("idle_gpus", "Show Idle GPUs Right Now", self.show_idle_gpus, "Ctrl+Shift+I", "&Go",
              tip="The fleet's idle and starved GPUs, most wasted GPU-hours first")

        c.add("shortcuts", "Keyboard Shortcuts", self.show_shortcuts, "F1", "&Help")

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.rate_label = QLabel("")
        self.db_label = QLabel("")
        self.runs_label = QLabel("")
        self.gpu_label = QLabel("")
        self.error_label = QLabel("")
        for w in (self.error_label,):
            bar.addWidget(w, 1)
        for w in (self.gpu_label, self.runs_label, self.rate_label, self.db_label):
            bar.addPermanentWidget(w)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized and self.qsettings.value("window/state") is None:
            # Default proportions, once the window has a size (a restored layout wins): the
            # runs column wide enough for names, the bottom panels a third of the height so
            # evidence, SQL results and comparisons have room.
            self.resizeDocks([self.docks["runs"]], [460], Qt.Orientation.Horizontal)
            self.resizeDocks([self.docks["alerts"]], [max(300, self.height() * 36 // 100)],
                             Qt.Orientation.Vertical)
            self.default_state = self.saveState(LAYOUT_VERSION)
        self._sized = True

    def _give_gpus_room(self) -> None:
        """The first GPU seen: its cards take most of the left column under the runs."""
        height = self.docks["runs"].height() + self.docks["gpu"].height()
        self.resizeDocks([self.docks["runs"], self.docks["gpu"]],
                         [height * 2 // 5, height * 3 // 5], Qt.Orientation.Vertical)

    # ---- frame loop ----------------------------------------------------------------------------
    def start(self) -> None:
        self.cache.start()
        self.frame_timer.start()

    def on_frame(self) -> None:
        """Pull the newest snapshot (if any) and redraw what changed. GUI thread, no I/O."""
        t0 = time.perf_counter()
        snap = self.cache.snapshot
        changed = snap.seq != self.snapshot_seq
        if changed:
            self.apply_snapshot(snap)
        else:
            self._refresh_rate()
        drew = self.charts.tick()
        self.pacer.frame(changed or bool(drew), self.isMinimized())
        self.frame_ms.append((time.perf_counter() - t0) * 1000)
        del self.frame_ms[:-120]

    def apply_snapshot(self, snap: Snapshot) -> None:
        self.snapshot_seq = snap.seq
        self.runs.update_runs(snap.runs)
        self.compare.update_runs(snap.runs)
        if self._wanted_run is not None:
            self._select_wanted_run(snap)
        if not self._user_selected and snap.runs:
            # Until the user picks runs, chart the live ones first, then the most recent.
            # The order must not move with every point logged (updated_at does): recharting
            # would rebuild curves each poll. Start time and name are stable.
            picked = sorted(snap.runs, key=lambda r: (r.status != "running",
                                                      -(r.started_at or 0), r.name))[:AUTO_SELECT]
            ids = [r.run_id for r in picked]
            if set(ids) != set(self.runs.selected):
                self.runs.select_runs(ids)
            self._user_selected = False
        new_alerts = self.alerts.update_alerts(snap.alerts)
        if new_alerts and self._first_alerts_seen:
            self.notifier.notify(new_alerts)
        self._first_alerts_seen = True
        self.gpu.update_gpus(snap.gpus, snap.processes)
        if snap.evals != self._evals_seen:
            self._evals_seen = snap.evals
            self.evals.refresh()
        self.charts.update_from(snap)
        self._update_status(snap)
        self.snapshotApplied.emit(snap.seq)

    def _refresh_rate(self) -> None:
        """The ingest rate between snapshots: the poller rests while nothing is committed, so
        the rate that falls to 0 after writes stop is read from its source, not the snapshot."""
        source = self.cache.ingest_rate_source
        rate = source() if source is not None else None
        if rate is not None:
            self._set_text(self.rate_label, f"ingest {rate:,.0f} pts/s")

    @staticmethod
    def _set_text(label: QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    def _update_status(self, snap: Snapshot) -> None:
        self.rate_label.setText(f"ingest {snap.ingest_rate:,.0f} pts/s")
        self.db_label.setText(f"DB {_human_bytes(snap.db_bytes)}")
        running = sum(1 for r in snap.runs if r.status == "running")
        self.runs_label.setText(f"{len(snap.runs)} runs ({running} running)")
        gpu_text, error = self._status_source() if self._status_source else ("", None)
        self.gpu_label.setText(gpu_text)
        error = snap.error or error
        self.error_label.setText(error or "")
        self.error_label.setStyleSheet(
            f"color: {theme.current().severity['warning']}" if error else "")

    # ---- selection and alerts ------------------------------------------------------------------
    def _on_runs_selected(self, run_ids: list[str]) -> None:
        self._user_selected = True
        names = {r.run_id: r.name for r in self.cache.snapshot.runs}
        for run_id in run_ids:
            if run_id not in self._colors:
                self._colors[run_id] = theme.series_color(len(self._colors))
        runs = [(r, names.get(r, r), self._colors[r]) for r in run_ids]
        self.cache.subscribe(set(run_ids))
        self.charts.set_runs(runs)
        self.runs.set_colors({r: self._colors[r] for r in run_ids})

    def select_run_named(self, name: str) -> None:
        """Chart the run called `name` once it is in the history (`cockpit app --run NAME`)."""
        self._wanted_run = name
        self._select_wanted_run(self.cache.snapshot)

    def _select_wanted_run(self, snap: Snapshot) -> None:
        match = next((r for r in snap.runs if r.name == self._wanted_run), None)
        if match is None:
            return
        self._wanted_run = None
        self.runs.select_runs([match.run_id])
        self._user_selected = True

    def open_alert(self, alert: AlertRow) -> None:
        """A desktop notification was clicked: bring the window up on its run and alert."""
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self.show_dock(self.docks["alerts"])
        if not self.alerts.select_alert(alert):  # selecting it charts it (alertActivated)
            self.jump_to_alert(alert)

    def jump_to_alert(self, alert: AlertRow) -> None:
        """Make sure the alert's run is charted, then center its chart on the alert."""
        if alert.run_id not in self.runs.selected:
            self.runs.select_runs([alert.run_id], add=True)
        self.charts.focus_alert(alert)

    def select_next_alert(self) -> None:
        self.show_dock(self.docks["alerts"])
        current = self.alerts.table.currentIndex().row()
        nxt = min(current + 1, self.alerts.proxy.rowCount() - 1)
        if nxt >= 0:
            self.alerts.select_row(nxt)

    def show_idle_gpus(self) -> None:
        self.show_dock(self.docks["fleet"])
        self.fleet.show_idle_only(True)
        self.fleet.refresh()

    def refresh_histograms(self) -> bool:
        self.histograms.set_run_names({r.run_id: r.name for r in self.cache.snapshot.runs})
        return self.histograms.refresh()

    def compare_selected(self) -> None:
        self.show_dock(self.docks["compare"])
        self.compare.set_checked(self.runs.selected)
        self.compare.compare(self.runs.selected)

    def focus_run_filter(self) -> None:
        self.show_dock(self.docks["runs"])
        self.runs.filter.setFocus()
        self.runs.filter.selectAll()

    def run_sql_from_anywhere(self) -> None:
        self.show_dock(self.docks["sql"])
        self.sql.run_query()

    # ---- folders -------------------------------------------------------------------------------
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Watch a folder of runs")
        if folder:
            self.watch_folder(Path(folder))

    def watch_folder(self, folder: Path) -> bool:
        if self._add_root is None:
            self.statusBar().showMessage("this window was opened without an ingest engine", 5000)
            return False
        try:
            self._add_root(folder)
        except Exception as err:  # the engine's one-sentence IngestError
            self.statusBar().showMessage(str(err), 8000)
            return False
        self.settings.add_recent(folder)
        self._fill_recent()
        self.statusBar().showMessage(f"watching {folder}", 5000)
        self.cache.wake()
        return True

    def add_remote_folder_dialog(self) -> None:
        from cockpit.ui.remote_dialog import RemoteFolderDialog

        dialog = RemoteFolderDialog(self)
        if dialog.exec() == RemoteFolderDialog.DialogCode.Accepted and dialog.value():
            self.watch_remote(dialog.value())

    def watch_remote(self, url: str) -> bool:
        """Connect to a remote folder off the GUI thread; the status bar says how it went."""
        from cockpit.sources.location import is_remote

        if not is_remote(url):
            self.statusBar().showMessage(
                f"{url} is not an ssh://, s3://, gs:// or az:// location", 8000)
            return False
        if self._add_remote is None:
            self.statusBar().showMessage("this window was opened without an ingest engine", 5000)
            return False
        self.statusBar().showMessage(f"connecting to {url}…", 20000)
        self._add_remote(url, lambda u, error: self.remoteDone.emit(u, error or ""))
        return True

    def _remote_done(self, url: str, error: str) -> None:
        if error:
            self.statusBar().showMessage(error, 15000)
            return
        self.settings.add_remote_folder(url)
        self.settings.add_recent(url)
        self._fill_recent()
        self.statusBar().showMessage(f"watching {url}", 5000)
        self.cache.wake()

    def forget_remote_folders(self) -> None:
        self.settings.forget_remote_folders()
        self.statusBar().showMessage("remote folders will not be re-opened at the next start",
                                     5000)

    def _fill_recent(self) -> None:
        from cockpit.sources.location import is_remote

        self.recent_menu.clear()
        recent = self.settings.recent_folders()
        for folder in recent:
            action = self.recent_menu.addAction(folder)
            if is_remote(folder):
                action.triggered.connect(lambda _=False, f=folder: self.watch_remote(f))
            else:
                action.triggered.connect(lambda _=False, f=folder: self.watch_folder(Path(f)))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls() if u.isLocalFile()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if url.isLocalFile() and path.is_dir():
                self.watch_folder(path)
        event.acceptProposedAction()

    # ---- layout, theme, settings ---------------------------------------------------------------
    def show_dock(self, dock: QDockWidget) -> None:
        dock.show()
        dock.raise_()

    def splitters(self) -> dict[str, QSplitter]:
        """The panels' named splitters (evidence, SQL results, comparison): remembered."""
        return {s.objectName(): s for s in self.findChildren(QSplitter) if s.objectName()}

    def save_layout(self) -> None:
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        for name, splitter in self.splitters().items():
            self.qsettings.setValue(f"splitters/{name}", splitter.saveState())
        self.qsettings.sync()

    def restore_layout(self) -> bool:
        geometry = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        ok = True
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(QByteArray(geometry))
        if isinstance(state, QByteArray | bytes):
            ok = self.restoreState(QByteArray(state), LAYOUT_VERSION)
        for name, splitter in self.splitters().items():
            saved = self.qsettings.value(f"splitters/{name}")
            if isinstance(saved, QByteArray | bytes):
                splitter.restoreState(QByteArray(saved))
        return ok

    def reset_layout(self) -> None:
        self.restoreState(self.default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.docks["alerts"].raise_()

    def set_theme(self, choice: str) -> None:
        self.settings.theme = choice
        self.apply_theme(theme.resolve(choice))

    def _follow_system_theme(self, _scheme: object = None) -> None:
        if self.settings.theme == "system":
            self.apply_theme(theme.resolve("system"))

    def apply_theme(self, t: theme.Theme) -> None:
        theme.apply(t)
        self.charts.apply_theme()
        self.gpu.apply_theme()
        self.fleet.apply_theme()
        self.sql.apply_theme()
        self.runs.update_runs(self.cache.snapshot.runs)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self)
        dialog.accepted.connect(self._settings_changed)
        dialog.open()
        return dialog

    def _settings_changed(self) -> None:
        self.notifier.min_severity = self.settings.desktop_min_severity
        self.settingsChanged.emit()
        self.pacer.wake()
        self.apply_theme(theme.resolve(self.settings.theme))

    def show_shortcuts(self) -> None:
        lines = []
        for cmd in self.commands.commands.values():
            keys = cmd.action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                lines.append(f"<tr><td><b>{keys}</b></td><td>{cmd.text.replace('&', '')}</td></tr>")
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText("<table cellspacing=6>" + "".join(lines) + "</table>")
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.frame_timer.stop()
        self.sql.close_runner()
        self.compare.close_runner()
        self.evals.close_runner()
        self.histograms.close_runner()
        self.hparams.close_runner()
        super().closeEvent(event)


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
