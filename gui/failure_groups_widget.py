"""Failure groups of the loaded dead letters: how many failed which way, and picking a group.

Groups grow with the table as pages load (a few thousand rows per turn of the event loop,
so 100,000 rows never freeze the window). Choosing a group selects its rows in the table,
so Replay and Discard act on the whole group.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from eventdesk.connectors.failure_groups import FailureGroup, FailureGrouper
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from .actions import make_action
from .message_table_model import MessageTableModel
from .table_model import ReadOnlyTableModel
from .table_view import TableView

# Rows grouped per turn of the event loop: at most about 20 ms when every text differs.
ROWS_PER_TURN = 500


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


class FailureGroupsModel(ReadOnlyTableModel[FailureGroup]):
    HEADERS = ("Messages", "Failure", "Failed in", "First seen", "Last seen")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: list[FailureGroup] = []

    def set_groups(self, groups: list[FailureGroup]) -> None:
        self.beginResetModel()
        self.groups = groups
        self.endResetModel()

    def rows(self) -> list[FailureGroup]:
        return self.groups

    def values(self, group: FailureGroup) -> tuple[str, ...]:
        return (
            f"{group.count:,}",
            group.label,
            ", ".join(group.sources) or "—",
            _when(group.first_seen),
            _when(group.last_seen),
        )

    def role_data(self, group: FailureGroup, column: int, role: int) -> object:
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{group.signature}\n{group.count:,} messages, {group.bytes:,} bytes"
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 0:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None


class FailureGroupsWidget(QWidget):
    """The groups of the message table's loaded rows; `group_rows` fires on a choice."""

    group_rows = Signal(list)  # table rows of the chosen group
    # Export incident report for the chosen group: (signature, label).
    report_requested = Signal(object)

    def __init__(self, table: MessageTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._table = table
        self.model = FailureGroupsModel(self)
        self._grouper = FailureGrouper()
        self._rows: defaultdict[str, list[int]] = defaultdict(list)
        self._grouped = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._group_some)

        self.summary_label = QLabel(self)
        self.summary_label.setEnabled(False)
        self.view = TableView(self)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        rows = self.view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.activated.connect(self._on_view_clicked)
        self.report_action = make_action(
            self,
            "Export incident report for this group…",
            "A report on the dead letters of the chosen failure group",
            on_triggered=self._on_report_action_triggered,
        )
        self.view.addAction(self.report_action)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.view, 1)

        table.modelReset.connect(self.reset)
        table.rowsInserted.connect(lambda *_: self._timer.start())
        self.reset()

    def reset(self) -> None:
        self._grouper = FailureGrouper()
        self._rows = defaultdict(list)
        self._grouped = 0
        self.model.set_groups([])
        self._update_summary()
        if self._table.loaded_count:
            self._timer.start()

    def rows_of(self, signature: str) -> list[int]:
        return list(self._rows.get(signature, ()))

    def choose(self, row: int) -> None:
        """As clicking the group in row `row` does."""
        self.view.selectRow(row)
        self._on_view_clicked(self.model.index(row, 0))

    def _group_some(self) -> None:
        end = min(self._table.loaded_count, self._grouped + ROWS_PER_TURN)
        for row in range(self._grouped, end):
            self._rows[self._grouper.add(self._table.message_at(row))].append(row)
        self._grouped = end
        if end < self._table.loaded_count:
            self._timer.start()
            return
        chosen = self._chosen_signature()
        self.model.set_groups(self._grouper.groups())
        if chosen is not None:
            for row, group in enumerate(self.model.groups):
                if group.signature == chosen:
                    self.view.selectRow(row)
        self._update_summary()

    def _chosen_signature(self) -> str | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.groups[rows[0].row()].signature if rows else None

    def _update_summary(self) -> None:
        groups, grouped = len(self.model.groups), self._grouped
        if not grouped:
            self.summary_label.setText("Failure groups appear as messages load.")
            return
        more = " — Load all (Ctrl+Shift+L) to group the whole queue" if self._table.has_more else ""
        self.summary_label.setText(
            f"{groups} failure group{'s' if groups != 1 else ''} in {grouped:,} loaded"
            f" message{'s' if grouped != 1 else ''}; click one to select its messages{more}"
        )

    def _on_report_action_triggered(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        if rows:
            group = self.model.groups[rows[0].row()]
            self.report_requested.emit((group.signature, group.label))

    def _on_view_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.group_rows.emit(self.rows_of(self.model.groups[index.row()].signature))
