"""The History tab: every replay and discard from the journal, its messages, and resume.

Reads the journal only; resuming is the main window's job (it owns the connectors), so
the view asks for it through `resume_requested`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import datetime

from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.journal import FINISHED_STATUSES, ActionRecord, Journal, MessageRecord
from eventdesk.connectors.replay import IMPORTED_SOURCE_PREFIX
from PySide6.QtCore import QAbstractTableModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .table_model import ReadOnlyTableModel
from .table_view import TableView

HISTORY_LIMIT = 500
_STATUS_COLOURS = {
    "completed": "#2e7d32",
    "interrupted": "#c62828",
    "failed": "#c62828",
    "running": "#1565c0",
    "planned": "#1565c0",
    "cancelled": "#8a6d00",
}
EMPTY_TEXT = (
    "No replay or discard yet. Select dead letters in the Messages tab and press Ctrl+R to"
    " replay them or Delete to discard them; every action is recorded here."
)


def resumable(record: ActionRecord) -> bool:
    """A replay that never reached an end: resume sends what is left, nothing twice."""
    return (
        record.kind == "replay"
        and record.status not in FINISHED_STATUSES
        and not record.source.startswith(IMPORTED_SOURCE_PREFIX)
    )


def when(stamp: str | None) -> str:
    """Journal time (ISO, UTC) shown in local time, to the second."""
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp


def counts_text(counts: dict[str, int] | object) -> str:
    if not isinstance(counts, dict) or not counts:
        return "0"
    order = ("settled", "sent", "pending", "failed")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return ", ".join(parts)


class ActionTableModel(ReadOnlyTableModel[ActionRecord]):
    HEADERS = ("Started", "Action", "From", "To", "Messages", "Status", "By")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[ActionRecord] = []

    def set_records(self, records: Sequence[ActionRecord]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.endResetModel()

    def rows(self) -> list[ActionRecord]:
        return self.records

    def values(self, record: ActionRecord) -> tuple[str, ...]:
        target = "—"
        if record.target is not None:
            connection = record.target_connection or record.source_connection
            target = f"{record.target} ({connection})"
        return (
            when(record.started_at),
            record.kind,
            f"{record.source} ({record.source_connection})",
            target,
            counts_text(dict(record.counts)),
            record.status + (" · can resume" if resumable(record) else ""),
            record.who,
        )

    def role_data(self, record: ActionRecord, column: int, role: int) -> object:
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 5 and record.detail:
                return record.detail
            return f"Journal entry {record.id}"
        if role == Qt.ItemDataRole.ForegroundRole and column == 5:
            colour = _STATUS_COLOURS.get(record.status)
            return QBrush(QColor(colour)) if colour else None
        return None


class MessageRecordModel(ReadOnlyTableModel[MessageRecord]):
    HEADERS = ("#", "Message id", "Target", "State", "Detail", "Payload SHA-256")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.messages: tuple[MessageRecord, ...] = ()

    def set_messages(self, messages: Sequence[MessageRecord]) -> None:
        self.beginResetModel()
        self.messages = tuple(messages)
        self.endResetModel()

    def rows(self) -> tuple[MessageRecord, ...]:
        return self.messages

    def values(self, m: MessageRecord) -> tuple[str, ...]:
        return (
            str(m.position + 1),
            m.source_id,
            m.target or "",
            m.state,
            m.detail,
            m.payload_sha256,
        )

    def role_data(self, m: MessageRecord, column: int, role: int) -> object:
        # Ids, details and hashes are long: the tooltip shows the whole text.
        return self.values(m)[column] if role == Qt.ItemDataRole.ToolTipRole else None


class HistoryView(QWidget):
    """Actions newest first; the selected one's messages below; resume and copy."""

    resume_requested = Signal(str)
    unfinished_changed = Signal(int)

    def __init__(self, journal: Callable[[], Journal], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._journal = journal
        self.actions_model = ActionTableModel(self)
        self.messages_model = MessageRecordModel(self)
        self.unfinished = 0

        self.actions_table = _table(self.actions_model, self)
        self.actions_table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.actions_table.doubleClicked.connect(lambda _index: self._on_resume_clicked())
        self.messages_table = _table(self.messages_model, self)
        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty_label = QLabel(EMPTY_TEXT, self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setEnabled(False)

        self.refresh_button = QPushButton("&Refresh", self)
        self.refresh_button.setToolTip("Read the journal again")
        self.refresh_button.clicked.connect(self.reload)
        self.resume_button = QPushButton("Re&sume…", self)
        self.resume_button.setToolTip(
            "Finish an interrupted replay: settles what was sent, sends what is left,"
            " never sends a confirmed message twice"
        )
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.copy_button = QPushButton("&Copy as JSON", self)
        self.copy_button.setToolTip("Copy the selected journal entry, with its messages")
        self.copy_button.clicked.connect(self._on_copy_clicked)

        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.resume_button)
        details = QWidget(self)
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.summary_label)
        details_layout.addWidget(self.messages_table, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.actions_table)
        self.splitter.addWidget(details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.splitter, 1)
        self._update_buttons()

    def reload(self) -> None:
        """Read the journal again, keeping the selected entry selected."""
        selected = self.selected()
        try:
            journal = self._journal()
            # Owners that died become "interrupted", so they can be offered for resume.
            journal.mark_abandoned()
            records = journal.actions(HISTORY_LIMIT)
        except EventdeskError as exc:
            self.summary_label.setText(f"Cannot read the journal: {exc}. {exc.hint or ''}")
            return
        self.actions_model.set_records(records)
        has_rows = bool(records)
        self.empty_label.setVisible(not has_rows)
        self.splitter.setVisible(has_rows)
        if selected is not None:
            self.select(selected.id)
        self._on_selection_changed()
        unfinished = sum(resumable(r) for r in records)
        if unfinished != self.unfinished:
            self.unfinished = unfinished
            self.unfinished_changed.emit(unfinished)

    def select(self, action_id: str) -> bool:
        for row, record in enumerate(self.actions_model.records):
            if record.id == action_id:
                self.actions_table.selectRow(row)
                return True
        return False

    def selected(self) -> ActionRecord | None:
        rows = self.actions_table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.actions_model.records[rows[0].row()]

    def _on_selection_changed(self, *_args: object) -> None:
        record = self.selected()
        full = None
        if record is not None:
            try:
                full = self._journal().action(record.id)
            except EventdeskError:
                full = None
        self.messages_model.set_messages(full.messages if full is not None else ())
        self.summary_label.setText(_summary(full) if full is not None else "")
        self._update_buttons()

    def _update_buttons(self) -> None:
        record = self.selected()
        self.copy_button.setEnabled(record is not None)
        self.resume_button.setEnabled(record is not None and resumable(record))

    def _on_resume_clicked(self) -> None:
        record = self.selected()
        if record is not None and resumable(record):
            self.resume_requested.emit(record.id)

    def _on_copy_clicked(self) -> None:
        record = self.selected()
        if record is None:
            return
        full = self._journal().action(record.id) or record
        text = json.dumps(full.to_json(), indent=2, ensure_ascii=False)
        QGuiApplication.clipboard().setText(text)


def _summary(record: ActionRecord) -> str:
    e = html.escape
    target = ""
    if record.target is not None:
        connection = record.target_connection or record.source_connection
        target = f" → {e(record.target)} on {e(connection)}"
    finished = f", ended {when(record.finished_at)}" if record.finished_at else ""
    detail = f" — {e(record.detail)}" if record.detail else ""
    return (
        f"<b>{e(record.kind.capitalize())}</b> {e(record.id)}: {e(record.source)} on "
        f"{e(record.source_connection)}{target}. Started {when(record.started_at)} by "
        f"{e(record.who)}{finished}. Status <b>{e(record.status)}</b>{detail}"
    )


def _table(model: QAbstractTableModel, parent: QWidget) -> QTableView:
    table = TableView(parent)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.setWordWrap(False)
    return table
