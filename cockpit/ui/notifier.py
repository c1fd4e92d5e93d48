"""Telling the user about warning and critical alerts: a tray notification where the desktop
has a tray, otherwise (offscreen, some Wayland sessions) an in-app toast over the window.
Clicking either opens the run and the alert it was about."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QMainWindow, QSystemTrayIcon

from cockpit.ui import theme
from cockpit.ui.live_cache import SEVERITY_RANK, AlertRow


class Toast(QLabel):
    """A small message in the window's top-right corner that hides itself; a click on it
    says so (`clicked`) and hides it."""

    clicked = Signal()

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setObjectName("alertToast")
        self.setWordWrap(True)
        self.setMaximumWidth(420)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)
        self.hide()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)

    def show_message(self, html: str, severity: str, ms: int = 8000) -> None:
        t = theme.current()
        border = t.severity.get(severity, t.accent)
        self.setStyleSheet(
            f"QLabel#alertToast {{ background: {t.base}; color: {t.text}; border: 2px solid "
            f"{border}; border-radius: 6px; padding: 8px; }}")
        self.setText(html)
        self.adjustSize()
        parent = self.parentWidget()
        if parent is not None:
            self.move(QPoint(parent.width() - self.width() - 16, 48))
        self.raise_()
        self.show()
        self._timer.start(ms)

    def mousePressEvent(self, event: object) -> None:  # noqa: N802 (Qt API)
        self.hide()
        self.clicked.emit()


class AlertNotifier:
    """Turns new alerts into at most one notification per poll."""

    def __init__(self, window: QMainWindow, use_tray: bool | None = None) -> None:
        self.window = window
        self.toast = Toast(window)
        available = QSystemTrayIcon.isSystemTrayAvailable()
        self.use_tray = available if use_tray is None else (use_tray and available)
        self.tray: QSystemTrayIcon | None = None
        if self.use_tray:
            self.tray = QSystemTrayIcon(window.windowIcon() or QIcon(), window)
            self.tray.setToolTip("Cockpit")
            self.tray.show()
            self.tray.messageClicked.connect(self.open_last)
        self.toast.clicked.connect(self.open_last)
        self.sent: list[tuple[str, str]] = []  # (severity, text) of every notification
        self.min_severity = "warning"  # or "off"
        self.fresh_s = 900.0
        self.last: AlertRow | None = None  # what the latest notification was about
        self.on_open: Callable[[AlertRow], None] | None = None  # the window opens it

    def open_last(self) -> None:
        """The user clicked the notification: show its run and alert."""
        if self.last is not None and self.on_open is not None:
            self.on_open(self.last)

    def notify(self, alerts: list[AlertRow], now: float | None = None) -> bool:
        """Notify about fresh alerts at or above the threshold; returns whether it did.

        Fresh = about data from the last `fresh_s` seconds: importing old runs finds old
        problems, which belong in the list, not in a desktop notification.
        """
        if self.min_severity == "off":
            return False
        floor = SEVERITY_RANK[self.min_severity]
        now = time.time() if now is None else now
        loud = [a for a in alerts if SEVERITY_RANK.get(a.severity, 0) >= floor
                and now - (a.ts if a.ts is not None else (a.created_at or now)) <= self.fresh_s]
        if not loud:
            return False
        worst = max(loud, key=lambda a: SEVERITY_RANK.get(a.severity, 0))
        title = f"{worst.severity.upper()}: {worst.detector} in {worst.run_name}"
        more = f" (+{len(loud) - 1} more)" if len(loud) > 1 else ""
        text = f"{worst.message}{more}"
        self.sent.append((worst.severity, f"{title} — {text}"))
        self.last = worst
        if self.tray is not None:
            icon = (QSystemTrayIcon.MessageIcon.Critical if worst.severity == "critical"
                    else QSystemTrayIcon.MessageIcon.Warning)
            self.tray.showMessage(title, text, icon, 8000)
        else:
            import html

            self.toast.show_message(
                f"<b>{html.escape(title)}</b><br>{html.escape(_short(worst.message))}"
                f"{html.escape(more)}", worst.severity)
        return True


def _short(text: str, limit: int = 220) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
