"""The alert log panel: alerts, recoveries and health changes, newest at the bottom."""

from __future__ import annotations

import time
from collections.abc import Iterable

from eventdesk.connectors.alerts import EventKind, TimelineEvent
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QVBoxLayout, QWidget

from .table_model import ReadOnlyTableModel
from .table_view import TableView

MAX_ROWS = 1000
SEVERITY_COLORS = {"info": "#2e7d32", "warning": "#e0a800", "critical": "#d32f2f"}
_KIND_TEXT = {
    EventKind.ALERT: "⚠ alert",
    EventKind.RECOVERED: "✓ recovered",
    EventKind.HEALTH: "● health",
}


class AlertLogModel(ReadOnlyTableModel[TimelineEvent]):
    """A bounded list of events; the oldest rows go once there are more than `limit`."""

    HEADERS = ("Time", "Event", "Connection", "Where", "What")

    def __init__(self, parent: QWidget | None = None, *, limit: int = MAX_ROWS) -> None:
        super().__init__(parent)
        self.limit = limit
        self._events: list[TimelineEvent] = []

    def rows(self) -> list[TimelineEvent]:
        return self._events

    def values(self, event: TimelineEvent) -> tuple[str, ...]:
        return (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.at)),
            _KIND_TEXT[event.kind],
            event.connection,
            " · ".join(part for part in (event.endpoint, event.group) if part),
            event.title,
        )

    def role_data(self, event: TimelineEvent, column: int, role: int) -> object:
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{event.title}\n{event.detail}".strip()
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return QBrush(QColor(SEVERITY_COLORS.get(event.severity, "#000000")))
        return None

    def events(self) -> list[TimelineEvent]:
        return list(self._events)

    def add(self, events: Iterable[TimelineEvent]) -> None:
        new = list(events)
        if not new:
            return
        first = len(self._events)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._events.extend(new)
        self.endInsertRows()
        excess = len(self._events) - self.limit
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), 0, excess - 1)
            del self._events[:excess]
            self.endRemoveRows()


class AlertLogWidget(QWidget):
    """The log as a table that follows new events unless the operator scrolled away."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = AlertLogModel(self)
        self.table = TableView(self)
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)

    def add(self, events: Iterable[TimelineEvent]) -> None:
        bar = self.table.verticalScrollBar()
        following = bar.value() == bar.maximum()
        self.model.add(events)
        if following:
            self.table.scrollToBottom()
