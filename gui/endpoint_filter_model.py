"""Narrows the connection tree: dead-letter queues only, and a name filter.

Connection rows always stay, so a connection's state is visible even when none
of its endpoints match.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from .connection_tree_model import ENDPOINT_ROW, Roles


class EndpointFilterModel(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dead_letters_only = False
        self._text = ""
        # Endpoint rows are kept in the source's order (DLQs first); no sorting here.
        self.setDynamicSortFilter(True)

    @property
    def dead_letters_only(self) -> bool:
        return self._dead_letters_only

    def set_dead_letters_only(self, on: bool) -> None:
        if on != self._dead_letters_only:
            self.beginFilterChange()
            self._dead_letters_only = on
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            self.beginFilterChange()
            self._text = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        if index.data(Roles.ROW_KIND) != ENDPOINT_ROW:
            return True
        if self._dead_letters_only and not index.data(Roles.IS_DEAD_LETTER):
            return False
        return not self._text or self._text in str(index.data()).lower()
