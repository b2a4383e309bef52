"""The headers of one message as an editable table, with its own undo history."""

from __future__ import annotations

from eventdesk.connectors.dead_letters import header_text
from eventdesk.connectors.model import Headers, HeaderValue
from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .utf8 import is_utf8


class _HeadersChange(QUndoCommand):
    """One change to the headers, undone by showing the headers as they were before it."""

    def __init__(self, editor: HeadersEditor, before: Headers, after: Headers) -> None:
        super().__init__("header change")
        self._editor, self._before, self._after = editor, before, after
        self._done = True  # pushed after the table already changed

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self._editor.show_headers(self._after)

    def undo(self) -> None:
        self._editor.show_headers(self._before)


class HeadersEditor(QWidget):
    """Headers as an editable table; values that are not plain text stay as they were."""

    # The headers changed (typed, added, removed, undone or redone).
    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._original: Headers = ()
        # The headers as last shown or committed: what the next change is undone to.
        self._shown: Headers = ()
        self.undo_stack = QUndoStack(self)
        # Row key -> the value the row started with (kept by type: bytes, ints, AMQP tables).
        self._values: dict[int, HeaderValue] = {}
        self._next_key = 0
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["Header", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, 220)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.add_button = QPushButton("&Add header", self)
        self.remove_button = QPushButton("Re&move header", self)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.table.itemChanged.connect(self._on_table_item_changed)
        # Ctrl+Z in the table undoes header edits wherever the editor is hosted (a cell
        # being typed in keeps its own undo: its line edit takes the key first).
        self.table.installEventFilter(self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def load(self, headers: Headers) -> None:
        self._original = tuple(headers)
        self.undo_stack.clear()
        self.show_headers(self._original)

    def show_headers(self, headers: Headers) -> None:
        """Fills the table with these headers (no undo step of its own)."""
        with QSignalBlocker(self.table):
            self._values.clear()
            self.table.setRowCount(0)
            for name, value in headers:
                self._insert_row(name, value)
        self._shown = tuple(headers)
        self.table.viewport().update()
        self.edited.emit()

    def add_row(self, name: str = "", value: HeaderValue = "") -> int:
        """Adds a row as the operator would (an undo step once it has a name)."""
        with QSignalBlocker(self.table):
            row = self._insert_row(name, value)
        self._commit()
        return row

    def _insert_row(self, name: str, value: HeaderValue) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        key = self._next_key
        self._next_key += 1
        self._values[key] = value
        name_item = QTableWidgetItem(name)
        name_item.setData(Qt.ItemDataRole.UserRole, key)
        value_item = QTableWidgetItem(header_text(value))
        if not _text_editable(value):
            value_item.setFlags(value_item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            value_item.setToolTip("Not plain text: kept as it is (the row can be removed)")
        self.table.setItem(row, 0, name_item)
        self.table.setItem(row, 1, value_item)
        return row

    def headers(self) -> Headers:
        """The headers as they stand: unchanged values keep their type, edited ones are text."""
        pairs: list[tuple[str, HeaderValue]] = []
        for row in range(self.table.rowCount()):
            name_item, value_item = self.table.item(row, 0), self.table.item(row, 1)
            name = name_item.text().strip() if name_item is not None else ""
            if name_item is None or not name:
                continue
            original = self._values[name_item.data(Qt.ItemDataRole.UserRole)]
            text = value_item.text() if value_item is not None else ""
            pairs.append((name, original if text == header_text(original) else text))
        return tuple(pairs)

    def changed(self) -> bool:
        return self.headers() != self._original

    def _commit(self) -> None:
        """Records the table's current headers as one undoable change, if they changed."""
        after = self.headers()
        if after != self._shown:
            self.undo_stack.push(_HeadersChange(self, self._shown, after))
            self._shown = after
        self.edited.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and isinstance(event, QKeyEvent):
            step = _undo_step(event)
            if step is not None and event.type() is QEvent.Type.ShortcutOverride:
                # Claims the key from window shortcuts, so it arrives here as a key press.
                event.accept()
                return True
            if step is not None and event.type() is QEvent.Type.KeyPress:
                (self.undo_stack.undo if step == "undo" else self.undo_stack.redo)()
                return True
        return super().eventFilter(watched, event)

    def _on_table_item_changed(self, _item: QTableWidgetItem) -> None:
        self._commit()

    def _on_add_button_clicked(self) -> None:
        row = self.add_row()
        self.table.setCurrentCell(row, 0)
        item = self.table.item(row, 0)
        if item is not None:
            self.table.editItem(item)

    def _on_remove_button_clicked(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        with QSignalBlocker(self.table):
            for row in rows:
                self.table.removeRow(row)
        self._commit()


def _text_editable(value: HeaderValue) -> bool:
    if isinstance(value, bytes | bytearray):
        return is_utf8(bytes(value))
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _undo_step(event: QKeyEvent) -> str | None:
    if event.matches(QKeySequence.StandardKey.Undo):
        return "undo"
    if event.matches(QKeySequence.StandardKey.Redo):
        return "redo"
    return None
