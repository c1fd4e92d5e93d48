"""The settings dialog's Notifications page: where alerts go off the desktop (Apprise URLs
with their severity, detector and run filters and follow-ups), quiet hours, and how loud the
desktop itself is.

Secrets never reach the settings file: a URL that holds a token or password in clear (as
Apprise's privacy mode tells) is moved whole into the OS keyring and stored as
`{keyring:NAME}`; with no keyring, the page refuses it and says how to reference the secret.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from PySide6.QtCore import QObject, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from cockpit.notify.config import FOLLOW_UPS, ConfigError, Route, parse_route

COLUMNS = ("URL", "Severity", "Detectors", "Runs", "Follow-ups")
SEVERITY_CHOICES = (("warning and worse", "warning"), ("critical only", "critical"),
                    ("everything", "info"))
DESKTOP_CHOICES = (("warning and worse", "warning"), ("critical only", "critical"),
                   ("everything", "info"), ("off", "off"))
HELP = ("Alerts go to Apprise URLs: slack://…, mailto://user@host, ntfys://ntfy.sh/topic, "
        "json://host/path, and about a hundred more. Write a secret as {env:NAME} (read from "
        "the environment when a message is sent) or {keyring:NAME} (the OS keyring); a URL "
        "with a token or password in clear is moved into the keyring when you press OK.")


class _TestSignals(QObject):
    finished = Signal(str)  # the result, from the sending thread to the GUI thread


class NotificationsPage(QWidget):
    """`settings` is the dialog's AppSettings (cockpit/ui/settings.py)."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notificationsPage")
        self.settings = settings
        intro = QLabel(HELP)
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for entry_spec, label in settings.notify_entries():
            try:
                self.add_route(parse_route(entry_spec), label)
            except ConfigError:
                continue
        add = QPushButton("Add")
        add.clicked.connect(lambda: self.add_route(None))
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        self.test_button = QPushButton("Send test")
        self.test_button.clicked.connect(self.send_test)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (add, remove, self.test_button):
            buttons.addWidget(b)
        buttons.addWidget(self.test_result, 1)

        self.quiet = QGroupBox("Quiet hours (local time)")
        self.quiet.setCheckable(True)
        quiet = settings.quiet_hours()
        self.quiet.setChecked(quiet is not None)
        self.quiet_start = QTimeEdit(QTime(22, 0) if quiet is None else _qtime(quiet.start))
        self.quiet_end = QTimeEdit(QTime(7, 0) if quiet is None else _qtime(quiet.end))
        for edit in (self.quiet_start, self.quiet_end):
            edit.setDisplayFormat("HH:mm")
        self.quiet_critical = QCheckBox("critical alerts still go out; the rest wait for the "
                                        "end and go as one digest")
        self.quiet_critical.setChecked(quiet is None or quiet.critical_overrides)
        quiet_form = QFormLayout(self.quiet)
        quiet_form.addRow("From", self.quiet_start)
        quiet_form.addRow("To", self.quiet_end)
        quiet_form.addRow(self.quiet_critical)

        self.desktop = QComboBox()
        for label, value in DESKTOP_CHOICES:
            self.desktop.addItem(label, value)
        self.desktop.setCurrentIndex(max(self.desktop.findData(settings.desktop_min_severity), 0))
        desktop_row = QFormLayout()
        desktop_row.addRow("Desktop notifications", self.desktop)

        self.error = QLabel("")
        self.error.setObjectName("notifyError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d9534f")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.quiet)
        layout.addLayout(desktop_row)
        layout.addWidget(self.error)
        self._signals = _TestSignals(self)
        self._signals.finished.connect(self._test_finished)
        self._validated: list[tuple[str, str]] | None = None

    # ---- the table ---------------------------------------------------------------------------
    def add_route(self, route: Route | None, label: str = "") -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        route = route or Route("")
        url = QTableWidgetItem(route.url)
        url.setToolTip(label or "an Apprise URL, e.g. ntfys://ntfy.sh/my-topic")
        self.table.setItem(row, 0, url)
        severity = QComboBox()
        for text, value in SEVERITY_CHOICES:
            severity.addItem(text, value)
        severity.setCurrentIndex(max(severity.findData(route.min_severity), 0))
        self.table.setCellWidget(row, 1, severity)
        self.table.setItem(row, 2, QTableWidgetItem(",".join(sorted(route.detectors))))
        self.table.setItem(row, 3, QTableWidgetItem(",".join(route.runs)))
        follow = QComboBox()
        for value in FOLLOW_UPS:
            follow.addItem(value, value)
        follow.setCurrentIndex(max(follow.findData(route.follow_ups), 0))
        self.table.setCellWidget(row, 4, follow)
        self.table.setCurrentCell(row, 0)
        return row

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)

    def _text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text().strip() if item is not None else ""

    def _combo(self, row: int, col: int) -> str:
        widget = self.table.cellWidget(row, col)
        return str(widget.currentData()) if isinstance(widget, QComboBox) else ""

    def route_at(self, row: int) -> Route:
        """The row as a Route (raises ConfigError naming what is wrong)."""
        url = self._text(row, 0)
        if not url:
            raise ConfigError(f"route {row + 1} has no URL")
        route = parse_route(url)
        return Route(route.url, self._combo(row, 1) or "warning",
                     frozenset(_split(self._text(row, 2))), tuple(_split(self._text(row, 3))),
                     self._combo(row, 4) or "off", route.rate)

    # ---- OK ----------------------------------------------------------------------------------
    def validate(self) -> bool:
        """Check every route and keep clear secrets out of the file; False (and the reason
        shown) when one cannot be saved."""
        from cockpit.notify.apprise_client import clear_secrets, display
        from cockpit.notify.secrets import SecretError, store_in_keyring

        entries: list[tuple[str, str]] = []
        try:
            for row in range(self.table.rowCount()):
                if not self._text(row, 0):
                    continue  # an empty row added and left: not a route
                route = self.route_at(row)
                label = display(route.url)
                if clear_secrets(route.url):
                    name = "notify-" + hashlib.sha256(route.url.encode()).hexdigest()[:12]
                    try:
                        ref = store_in_keyring(name, route.url)
                    except SecretError as err:
                        raise ConfigError(
                            f"route {row + 1} ({label}) holds a token or password in clear and "
                            f"{err}") from None
                    route = Route(ref, route.min_severity, route.detectors, route.runs,
                                  route.follow_ups, route.rate)
                    cell = self.table.item(row, 0)
                    assert cell is not None  # the row has a URL (checked above)
                    cell.setText(ref)
                    cell.setToolTip(label)
                entries.append((route.spec(), label))
        except ConfigError as err:
            self.error.setText(str(err))
            self._validated = None
            return False
        self.error.setText("")
        self._validated = entries
        return True

    def save(self) -> None:
        if self._validated is None and not self.validate():
            return
        self.settings.set_notify_entries(self._validated or [])
        q = self.settings.q
        q.setValue("notify/quiet_enabled", self.quiet.isChecked())
        q.setValue("notify/quiet_start", self.quiet_start.time().toString("HH:mm"))
        q.setValue("notify/quiet_end", self.quiet_end.time().toString("HH:mm"))
        q.setValue("notify/quiet_critical", self.quiet_critical.isChecked())
        q.setValue("notify/desktop_min_severity", self.desktop.currentData())
        self._validated = None

    # ---- Send test -----------------------------------------------------------------------------
    def send_test(self) -> None:
        """Send a sample alert to the selected route on a thread of its own: a slow service
        never freezes the dialog."""
        row = max(self.table.currentRow(), 0)
        if self.table.rowCount() == 0:
            self.test_result.setText("add a route first")
            return
        try:
            route = self.route_at(row)
        except ConfigError as err:
            self.test_result.setText(str(err))
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("sending…")
        threading.Thread(target=self._send_test, args=(route.url,), daemon=True,
                         name="cockpit-notify-test").start()

    def _send_test(self, url: str) -> None:
        import socket

        from cockpit.notify.apprise_client import AppriseSender, display
        from cockpit.notify.message import alert_item, open_app_command, sample_alert

        message = alert_item(sample_alert(), socket.gethostname(), open_app_command(None)).message
        result = AppriseSender(30.0).send(url, message)
        text = (f"sent a sample alert to {display(url)}" if result.ok
                else f"could not deliver to {display(url)}: {result.reason}")
        self._signals.finished.emit(text)

    def _test_finished(self, text: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(text)


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _qtime(t: Any) -> QTime:
    return QTime(t.hour, t.minute)

