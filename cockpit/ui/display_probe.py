"""Open Qt's platform plugin the way the app would, and say which one loaded.

`cockpit doctor` runs this in a child process (`cockpit doctor --probe-display`): a plugin
that cannot load makes Qt abort the process, and a DISPLAY that is set proves nothing about
whether the xcb plugin's libraries are installed or the X server answers.
"""

from __future__ import annotations


def probe() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(["cockpit-display-probe"])
    screen = app.primaryScreen()
    size = screen.size() if screen is not None else None
    shown = f" {size.width()}x{size.height()}" if size is not None else ""
    print(f"platform {app.platformName()}{shown}", flush=True)
    return 0
