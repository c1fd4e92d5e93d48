"""One registry of commands shared by the menus, the keyboard shortcuts and the command
palette (Ctrl+Shift+P): a command is defined once and shows up everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)


@dataclass(slots=True)
class Command:
    id: str
    text: str
    menu: str | None
    action: QAction


class CommandRegistry:
    """Creates the QAction of each command on the window, so its shortcut works anywhere in
    it, and hands the same action to menus and the palette."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.commands: dict[str, Command] = {}
        self._menus: dict[str, QMenu] = {}

    def add(self, id: str, text: str, callback: Callable[[], object],
            shortcut: str | QKeySequence.StandardKey | None = None, menu: str | None = None,
            checkable: bool = False, tip: str = "") -> QAction:
        if id in self.commands:
            raise ValueError(f"command {id!r} registered twice")
        action = QAction(text, self.window)
        action.setObjectName(f"cmd_{id}")
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
        if checkable:
            action.toggled.connect(lambda _checked: callback())
        else:
            action.triggered.connect(lambda _checked=False: callback())
        self.window.addAction(action)
        self.commands[id] = Command(id, text, menu, action)
        if menu:
            self.menu(menu).addAction(action)
        return action

    def menu(self, path: str) -> QMenu:
        """The menu (created on first use) at a path like '&View' or '&File/Recent'."""
        menu = self._menus.get(path)
        if menu is not None:
            return menu
        parent, _, name = path.rpartition("/")
        owner = self.menu(parent) if parent else self.window.menuBar()
        menu = owner.addMenu(name)
        self._menus[path] = menu
        return menu

    def add_separator(self, menu: str) -> None:
        self.menu(menu).addSeparator()

    def trigger(self, id: str) -> None:
        self.commands[id].action.trigger()

    def shortcut_conflicts(self) -> list[tuple[str, str, str]]:
        """(shortcut, command a, command b) pairs bound to the same keys."""
        seen: dict[str, str] = {}
        out = []
        for cmd in self.commands.values():
            keys = cmd.action.shortcut().toString()
            if not keys:
                continue
            if keys in seen:
                out.append((keys, seen[keys], cmd.id))
            seen[keys] = cmd.id
        return out

    def search(self, text: str) -> list[Command]:
        """Commands whose title holds the typed letters in order, best matches first."""
        needle = text.lower().replace(" ", "")
        scored = []
        for cmd in self.commands.values():
            if not cmd.action.isEnabled():
                continue
            title = _plain(cmd.text).lower()
            score = _fuzzy(needle, title)
            if score is not None:
                scored.append((score, title, cmd))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [cmd for _, _, cmd in scored]


def _plain(text: str) -> str:
    return text.replace("&", "").replace("…", "")


def _fuzzy(needle: str, hay: str) -> int | None:
    """Lower is better; None when the letters are not all there in order."""
    if not needle:
        return 0
    if needle in hay.replace(" ", ""):
        return hay.replace(" ", "").index(needle)
    pos, gaps = -1, 100
    for ch in needle:
        nxt = hay.find(ch, pos + 1)
        if nxt < 0:
            return None
        gaps += nxt - pos - 1
        pos = nxt
    return gaps


class CommandPalette(QDialog):
    """Type to filter every command; Enter runs the highlighted one."""

    def __init__(self, registry: CommandRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("commandPalette")
        self.setWindowTitle("Command palette")
        self.registry = registry
        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a command…")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.input)
        layout.addWidget(self.list)
        self.resize(520, 360)
        self.input.textChanged.connect(self._refill)
        self.input.installEventFilter(self)
        self.list.itemActivated.connect(self._run)
        self._refill("")

    def _refill(self, text: str) -> None:
        self.list.clear()
        for cmd in self.registry.search(text):
            keys = cmd.action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            item = QListWidgetItem(f"{_plain(cmd.text)}" + (f"    {keys}" if keys else ""))
            item.setData(Qt.ItemDataRole.UserRole, cmd.id)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.input and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.list.currentRow() + (1 if key == Qt.Key.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(row, self.list.count() - 1)))
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.list.currentItem()
                if item is not None:
                    self._run(item)
                return True
        return super().eventFilter(obj, event)

    def _run(self, item: QListWidgetItem) -> None:
        command_id = item.data(Qt.ItemDataRole.UserRole)
        self.accept()
        self.registry.trigger(command_id)

    def open_fresh(self) -> None:
        self.input.clear()
        self._refill("")
        self.show()
        self.raise_()
        self.input.setFocus()
