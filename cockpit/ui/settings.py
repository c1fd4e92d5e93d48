"""User settings (QSettings) and the dialog that edits them: theme, sampling and refresh
rates, detector thresholds, the LLM endpoint and where alerts are sent. API keys and
notification secrets are never stored: they come from the environment (OPENAI_API_KEY,
`{env:NAME}` in a notification URL) or the OS keyring, and the dialog only says which."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

MAX_RECENT = 10
KEY_ENV = "OPENAI_API_KEY"


def open_settings(path: Path | None = None) -> QSettings:
    """The app's settings: an INI file when `path` is given (tests, smoke test), else the
    platform's native store."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings("Cockpit", "Cockpit")


class AppSettings:
    """Typed access to the settings Cockpit keeps."""

    def __init__(self, qsettings: QSettings) -> None:
        self.q = qsettings

    def _get(self, key: str, default: Any, kind: type) -> Any:
        value = self.q.value(key, default)
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    @property
    def theme(self) -> str:
        value = str(self.q.value("ui/theme", "system"))
        return value if value in ("system", "dark", "light") else "system"

    @theme.setter
    def theme(self, value: str) -> None:
        self.q.setValue("ui/theme", value)

    @property
    def refresh_hz(self) -> int:
        return min(max(self._get("ui/refresh_hz", 30, int), 5), 60)

    @property
    def gpu_interval(self) -> float:
        return min(max(self._get("gpu/interval_s", 1.0, float), 0.1), 60.0)

    @property
    def sql_file_access(self) -> bool:
        """SQL (the console, live reads) may read and write files: off unless opted in."""
        return str(self.q.value("sql/file_access", "false")).lower() in ("1", "true", "yes")

    @property
    def llm_base_url(self) -> str:
        return str(self.q.value("llm/base_url", ""))

    @property
    def llm_model(self) -> str:
        return str(self.q.value("llm/model", ""))

    def detector_overrides(self) -> dict[str, Any]:
        self.q.beginGroup("detectors")
        try:
            out: dict[str, Any] = {}
            for key in self.q.childKeys():
                out[key] = self.q.value(key)
        finally:
            self.q.endGroup()
        return _typed_overrides(out)

    # ---- notifications (cockpit/ui/notify_page.py edits them) --------------------------------
    def notify_routes(self) -> list[Any]:
        """The stored routes; an entry that no longer parses is skipped, not fatal."""
        from cockpit.notify.config import ConfigError, parse_route

        routes = []
        for spec, _label in self.notify_entries():
            try:
                routes.append(parse_route(spec))
            except ConfigError:
                continue
        return routes

    def notify_entries(self) -> list[tuple[str, str]]:
        """(route spec, label shown in the table) as stored."""
        out = []
        size = self.q.beginReadArray("notify_routes")
        try:
            for i in range(size):
                self.q.setArrayIndex(i)
                spec = str(self.q.value("spec", "") or "")
                if spec:
                    out.append((spec, str(self.q.value("label", "") or "")))
        finally:
            self.q.endArray()
        return out

    def set_notify_entries(self, entries: list[tuple[str, str]]) -> None:
        self.q.remove("notify_routes")
        self.q.beginWriteArray("notify_routes", len(entries))
        try:
            for i, (spec, label) in enumerate(entries):
                self.q.setArrayIndex(i)
                self.q.setValue("spec", spec)
                self.q.setValue("label", label)
        finally:
            self.q.endArray()

    def quiet_hours(self) -> Any:
        from cockpit.notify.config import ConfigError, parse_quiet_hours

        if not _truthy(self.q.value("notify/quiet_enabled", False)):
            return None
        text = f"{self.q.value('notify/quiet_start', '22:00')}-{self.q.value('notify/quiet_end', '07:00')}"
        try:
            return parse_quiet_hours(text, _truthy(self.q.value("notify/quiet_critical", True)))
        except ConfigError:
            return None

    @property
    def desktop_min_severity(self) -> str:
        value = str(self.q.value("notify/desktop_min_severity", "warning"))
        return value if value in ("info", "warning", "critical", "off") else "warning"

    def notify_config(self, db_path: Path | None = None) -> Any:
        """The NotifyConfig the backend delivers with, or None when no route is set."""
        from cockpit.notify.config import NotifyConfig
        from cockpit.notify.message import open_app_command

        routes = self.notify_routes()
        if not routes:
            return None
        return NotifyConfig(routes=routes, quiet_hours=self.quiet_hours(),
                            open_app=open_app_command(str(db_path) if db_path else None))

    def recent_folders(self) -> list[str]:
        value = self.q.value("recent/folders", [])
        if isinstance(value, str):
            value = [value]
        items = value if isinstance(value, list | tuple) else []
        return [str(v) for v in items][:MAX_RECENT]

    def add_recent(self, folder: Path | str) -> list[str]:
        from cockpit.sources.location import is_remote

        text = str(folder) if is_remote(folder) else str(Path(folder).absolute())
        recent = [f for f in self.recent_folders() if f != text]
        recent.insert(0, text)
        self.q.setValue("recent/folders", recent[:MAX_RECENT])
        return recent[:MAX_RECENT]

    def remote_folders(self) -> list[str]:
        """ssh:// folders and bucket prefixes added in the app: watched again at every start."""
        value = self.q.value("remote/folders", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    def add_remote_folder(self, url: str) -> None:
        folders = [f for f in self.remote_folders() if f != url]
        self.q.setValue("remote/folders", [*folders, url])

    def forget_remote_folders(self) -> None:
        self.q.remove("remote/folders")


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _health_fields() -> list[dataclasses.Field[Any]]:
    try:
        from cockpit.health.config import HealthConfig
    except ModuleNotFoundError:
        return []
    return list(dataclasses.fields(HealthConfig))


def _typed_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """QSettings gives strings back from INI files: cast to each field's default type."""
    try:
        from cockpit.health.config import HealthConfig
    except ModuleNotFoundError:
        return {}
    defaults = HealthConfig()
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if not hasattr(defaults, name):
            continue
        default = getattr(defaults, name)
        try:
            if value in (None, "", "None"):
                out[name] = None
            elif isinstance(default, bool):
                out[name] = str(value).lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                out[name] = int(float(value))
            else:
                out[name] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class SettingsDialog(QDialog):
    """Edits AppSettings; detector changes apply to runs watched from the next start."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.settings = settings
        self.resize(560, 600)
        tabs = QTabWidget()

        general = QWidget()
        form = QFormLayout(general)
        self.theme = QComboBox()
        for label, value in (("Follow the system", "system"), ("Dark", "dark"), ("Light", "light")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(self.theme.findData(settings.theme), 0))
        self.refresh = QSpinBox()
        self.refresh.setRange(5, 60)
        self.refresh.setSuffix(" Hz")
        self.refresh.setValue(settings.refresh_hz)
        self.gpu_interval = QDoubleSpinBox()
        self.gpu_interval.setRange(0.1, 60.0)
        self.gpu_interval.setSingleStep(0.5)
        self.gpu_interval.setSuffix(" s")
        self.gpu_interval.setValue(settings.gpu_interval)
        form.addRow("Theme", self.theme)
        form.addRow("Chart refresh", self.refresh)
        form.addRow("GPU sampling interval", self.gpu_interval)
        self.sql_files = QCheckBox("SQL may use files (read_csv, COPY, ATTACH; from the next start)")
        self.sql_files.setToolTip("Off: the SQL console and live reads see the history only")
        self.sql_files.setChecked(settings.sql_file_access)
        form.addRow("SQL console", self.sql_files)
        tabs.addTab(general, "General")

        self.detector_edits: dict[str, QLineEdit] = {}
        det = QWidget()
        det_form = QFormLayout(det)
        overrides = settings.detector_overrides()
        fields = _health_fields()
        if not fields:
            det_form.addRow(QLabel("The health detectors are not part of this build."))
        for f in fields:
            edit = QLineEdit()
            default = f.default if f.default is not dataclasses.MISSING else None
            edit.setPlaceholderText(f"default: {default}")
            if f.name in overrides:
                edit.setText(str(overrides[f.name]))
            det_form.addRow(f.name, edit)
            self.detector_edits[f.name] = edit
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(det)
        tabs.addTab(scroll, "Detectors")

        llm = QWidget()
        llm_form = QFormLayout(llm)
        self.base_url = QLineEdit(settings.llm_base_url)
        self.base_url.setPlaceholderText("https://api.openai.com/v1 or http://localhost:8000/v1")
        self.model = QLineEdit(settings.llm_model)
        self.model.setPlaceholderText("model name")
        key_state = "set" if os.environ.get(KEY_ENV) else "not set"
        self.key_note = QLabel(
            f"API key: read from the {KEY_ENV} environment variable ({key_state}) or the OS "
            "keyring; Cockpit never stores keys.")
        self.key_note.setWordWrap(True)
        llm_form.addRow("Endpoint (base URL)", self.base_url)
        llm_form.addRow("Model", self.model)
        llm_form.addRow(self.key_note)
        tabs.addTab(llm, "LLM")

        from cockpit.ui.notify_page import NotificationsPage

        self.notifications = NotificationsPage(settings)
        tabs.addTab(self.notifications, "Notifications")
        self.tabs = tabs

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        note = QLabel("Detector thresholds apply to runs watched after the next start.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def save(self) -> None:
        q = self.settings.q
        q.setValue("ui/theme", self.theme.currentData())
        q.setValue("ui/refresh_hz", self.refresh.value())
        q.setValue("gpu/interval_s", self.gpu_interval.value())
        q.setValue("sql/file_access", self.sql_files.isChecked())
        q.setValue("llm/base_url", self.base_url.text().strip())
        q.setValue("llm/model", self.model.text().strip())
        q.beginGroup("detectors")
        try:
            for name, edit in self.detector_edits.items():
                text = edit.text().strip()
                if text:
                    q.setValue(name, text)
                else:
                    q.remove(name)
        finally:
            q.endGroup()
        self.notifications.save()
        q.sync()

    def accept(self) -> None:
        if not self.notifications.validate():  # says why on the page; the dialog stays open
            self.tabs.setCurrentWidget(self.notifications)
            return
        self.save()
        super().accept()
