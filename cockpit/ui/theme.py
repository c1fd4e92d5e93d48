"""Dark and light palettes, following the OS unless the user picked one.

Qt 6.5+ reports the OS colour scheme through `styleHints().colorScheme()`; on platforms that
do not know (offscreen, old desktops) Cockpit is dark. Charts read their colours from the
active `Theme` so a switch repaints everything.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    dim_text: str
    accent: str
    chart_bg: str
    chart_fg: str
    selection: str
    grid_alpha: float
    # One colour per run, distinguishable on the chart background.
    series: tuple[str, ...]
    severity: dict[str, str]
    status: dict[str, str]


_SERIES_DARK = ("#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#9d4edd", "#06d6a0", "#ff6b6b",
                "#48bfe3", "#fca311", "#e0aaff", "#80ed99", "#ef476f", "#90e0ef", "#ffd166",
                "#c77dff", "#52b788", "#f4a261", "#a8dadc", "#e76f51", "#b8c0ff")
_SERIES_LIGHT = ("#0077b6", "#d00060", "#2d6a4f", "#c77700", "#7209b7", "#008f6b", "#c1121f",
                 "#1d3557", "#bc6c25", "#6a4c93", "#38a169", "#9d0208", "#005f73", "#a47e1b",
                 "#5a189a", "#2b9348", "#9c6644", "#3a86ff", "#e63946", "#4361ee")

DARK = Theme(
    name="dark", window="#1e2127", base="#16181d", alt_base="#1b1e24", text="#e6e6e6",
    dim_text="#8b93a1", accent="#4cc9f0", chart_bg="#121418", chart_fg="#aab2bf", selection="#2b4a61",
    grid_alpha=0.15, series=_SERIES_DARK,
    severity={"critical": "#ff4d6d", "warning": "#ffb703", "info": "#4cc9f0"},
    status={"running": "#06d6a0", "finished": "#8b93a1", "failed": "#ff4d6d",
            "stalled": "#ffb703", "unknown": "#5c6370"},
)
LIGHT = Theme(
    name="light", window="#f4f5f7", base="#ffffff", alt_base="#f0f2f5", text="#1d2025",
    dim_text="#5f6670", accent="#0077b6", chart_bg="#ffffff", chart_fg="#3a3f47", selection="#cfe3f3",
    grid_alpha=0.25, series=_SERIES_LIGHT,
    severity={"critical": "#c1121f", "warning": "#c77700", "info": "#0077b6"},
    status={"running": "#008f6b", "finished": "#5f6670", "failed": "#c1121f",
            "stalled": "#c77700", "unknown": "#9aa0a6"},
)

_current = DARK


def current() -> Theme:
    return _current


def system_prefers_dark() -> bool:
    """True unless the OS says it is light (offscreen and unknown platforms count as dark)."""
    app = QGuiApplication.instance()
    if app is None:
        return True
    return QGuiApplication.styleHints().colorScheme() != Qt.ColorScheme.Light


def resolve(choice: str) -> Theme:
    """'dark' | 'light' | 'system' -> a Theme."""
    if choice == "light":
        return LIGHT
    if choice == "dark":
        return DARK
    return DARK if system_prefers_dark() else LIGHT


def apply(theme: Theme) -> None:
    """Set the Fusion palette and pyqtgraph defaults for `theme` (existing charts restyle
    themselves through MainWindow.apply_theme)."""
    global _current
    _current = theme
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(palette(theme))
    if "pyqtgraph" in sys.modules:
        pyqtgraph_defaults()


def pyqtgraph_defaults() -> None:
    """pyqtgraph's global defaults for the current theme. pyqtgraph is not imported at start
    (it is most of the start-up time and the first window shows no chart): the modules that
    import it call this, and `apply` calls it once it is loaded."""
    import pyqtgraph as pg

    pg.setConfigOptions(background=_current.chart_bg, foreground=_current.chart_fg,
                        antialias=False)


def palette(theme: Theme) -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alt_base,
        QPalette.ColorRole.ToolTipBase: theme.window,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.dim_text,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.window,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: theme.selection,
        QPalette.ColorRole.HighlightedText: theme.text,
        QPalette.ColorRole.Link: theme.accent,
        QPalette.ColorRole.Mid: theme.alt_base,
        QPalette.ColorRole.Dark: theme.base,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.dim_text))
    return p


def series_color(index: int) -> str:
    colors = _current.series
    return colors[index % len(colors)]
