"""Help ▸ Keyboard shortcuts: every action of the window that has one, read live from it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

OTHER_GROUP = "Other"


@dataclass(frozen=True)
class ShortcutEntry:
    group: str  # the menu it is in, or OTHER_GROUP
    name: str
    keys: str


def plain_text(text: str) -> str:
    """An action's text as read aloud: no mnemonic ampersands, no trailing ellipsis."""
    text = text.replace("&&", "\0").replace("&", "").replace("\0", "&")
    return text.removesuffix("…").removesuffix("...").strip()


def _menu_places(window: QMainWindow) -> dict[int, tuple[int, int, str]]:
    """id(action) -> (menu number, place in that menu, menu title), first menu that holds it."""
    places: dict[int, tuple[int, int, str]] = {}
    for menu_number, top in enumerate(window.menuBar().actions()):
        menu = top.menu()
        if not isinstance(menu, QMenu):
            continue
        for place, action in enumerate(menu.actions()):
            places.setdefault(id(action), (menu_number, place, plain_text(menu.title())))
    return places


def shortcut_entries(window: QMainWindow) -> list[ShortcutEntry]:
    """Every action under the window with a shortcut, in menu-bar order; the rest last."""
    places = _menu_places(window)
    unplaced = (len(window.menuBar().actions()), 0, OTHER_GROUP)
    found: dict[int, tuple[tuple[int, int, str], ShortcutEntry]] = {}
    for action in window.findChildren(QAction):
        keys = [k for k in action.shortcuts() if not k.isEmpty()]
        if not keys or id(action) in found:
            continue
        place = places.get(id(action), unplaced)
        name = plain_text(action.text())
        entry = ShortcutEntry(
            place[2],
            name,
            ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys),
        )
        found[id(action)] = ((place[0], place[1], name.lower()), entry)
    return [entry for _key, entry in sorted(found.values(), key=lambda pair: pair[0])]


class ShortcutsDialog(QDialog):
    def __init__(self, window: QMainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard shortcuts")
        self.entries = shortcut_entries(window)
        self.table = QTableWidget(len(self.entries), 3, self)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
        rows = self.table.verticalHeader()
        rows.hide()
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        for row, entry in enumerate(self.entries):
            for column, text in enumerate((entry.group, entry.name, entry.keys)):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 640)
