"""A read-only table model over a sequence of rows: each subclass says only how a row reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Row = TypeVar("Row")
_ROOT = QModelIndex()


class ReadOnlyTableModel(QAbstractTableModel, Generic[Row]):
    """One column per name in `HEADERS`, one row per item of `rows()`, nothing editable.

    Subclasses give `rows()` (where their items are kept), `values(row)` (the display
    text of each column) and, for colours, tooltips or alignment, `role_data`.
    """

    HEADERS: tuple[str, ...] = ()

    def rows(self) -> Sequence[Row]:
        raise NotImplementedError

    def values(self, row: Row) -> Sequence[object]:
        raise NotImplementedError

    def role_data(self, row: Row, column: int, role: int) -> object:
        """Any role but DisplayRole; None (Qt's default) unless a subclass says otherwise."""
        return None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows())

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> object:
        if not index.isValid():
            return None
        row = self.rows()[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.values(row)[index.column()]
        return self.role_data(row, index.column(), role)
