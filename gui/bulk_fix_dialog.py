"""Bulk fix: one JSON Patch for every selected message, previewed and checked before replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from eventdesk.connectors.bulk_fix import (
    OPERATIONS,
    BulkFix,
    FixResult,
    PatchError,
    fix_all,
    operation,
    parse_patch,
)
from eventdesk.connectors.model import Message
from eventdesk.connectors.schemas import Schema
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .diff_widget import DiffWidget
from .json_highlighter import JsonHighlighter
from .message_detail import monospace_font
from .operations import AsyncOp, TaskOwner

PREVIEW_COUNT = 20
_ARGUMENT_HINTS = {
    "set": 'new value: JSON (42, true, "text", {…}) or plain text',
    "rename": "new field name",
    "remove": "(nothing needed)",
}
_ERROR_STYLE = "color: #b3261e;"


class BulkFixDialog(QDialog, TaskOwner):
    """Builds a JSON Patch, previews what it makes of each message, replays the fixed ones."""

    # (messages, {message id: MessageEdit}): only the messages the patch fixed.
    replay_requested = Signal(object, object)
    # Emitted when a preview finished (the BulkFix), or failed (None).
    previewed = Signal(object)

    def __init__(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.messages = list(messages)
        self.schema = schema
        self.plan: BulkFix | None = None
        # The patch text the plan was made from: a changed patch needs a new preview.
        self._planned_text: str | None = None
        self.setWindowTitle(f"Bulk fix {len(self.messages)} messages")
        self.resize(1000, 720)

        self.intro_label = QLabel(
            f"{len(self.messages)} selected · schema: {schema.name if schema else 'none mapped'}"
            " · messages whose patch fails or whose result is invalid are kept out.",
            self,
        )
        self.intro_label.setWordWrap(True)
        self.operation_combo = QComboBox(self)
        self.operation_combo.addItems(list(OPERATIONS))
        self.path_edit = QLineEdit(self)
        self.path_edit.setPlaceholderText("field: customer.id or /customer/id")
        self.argument_edit = QLineEdit(self)
        self.add_button = QPushButton("&Add to patch", self)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.operation_combo.currentTextChanged.connect(self._on_operation_combo_changed)
        self._on_operation_combo_changed(self.operation_combo.currentText())

        self.patch_edit = QPlainTextEdit(self)
        self.patch_edit.setFont(monospace_font())
        self.patch_edit.setPlaceholderText(
            '[{"op": "replace", "path": "/currency", "value": "EUR"}]  (RFC 6902 JSON Patch)'
        )
        self._highlighter = JsonHighlighter(self.patch_edit.document())
        self.patch_edit.textChanged.connect(self._on_patch_edit_text_changed)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.hide()

        self.preview_button = QPushButton("&Preview", self)
        self.preview_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.preview_button.clicked.connect(self.preview)
        self.summary_label = QLabel("Write a patch, then preview it.", self)
        self.results_table = QTableWidget(0, 2, self)
        self.results_table.setHorizontalHeaderLabels(["Message", "Result"])
        self.results_table.verticalHeader().setVisible(False)
        self.results_table.horizontalHeader().setStretchLastSection(True)
        self.results_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Interactive
        )
        self.results_table.setColumnWidth(0, 260)
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_table.itemSelectionChanged.connect(self._on_results_table_selection_changed)
        self.failures_edit = QPlainTextEdit(self)
        self.failures_edit.setReadOnly(True)
        self.failures_edit.setPlaceholderText("Messages kept out, and why, appear here.")
        self.diff = DiffWidget(self)

        self.replay_button = QPushButton("Replay &fixed…", self)
        self.replay_button.setEnabled(False)
        self.replay_button.clicked.connect(self._on_replay_button_clicked)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.reject)

        simple = QHBoxLayout()
        simple.addWidget(self.operation_combo)
        simple.addWidget(self.path_edit, 2)
        simple.addWidget(self.argument_edit, 2)
        simple.addWidget(self.add_button)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.intro_label)
        top_layout.addLayout(simple)
        top_layout.addWidget(self.patch_edit, 1)
        top_layout.addWidget(self.error_label)
        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview_button)
        preview_row.addWidget(self.summary_label, 1)
        top_layout.addLayout(preview_row)
        lists = QSplitter(Qt.Orientation.Vertical, self)
        lists.addWidget(self.results_table)
        lists.addWidget(self.failures_edit)
        results = QSplitter(Qt.Orientation.Horizontal, self)
        results.addWidget(lists)
        results.addWidget(self.diff)
        results.setSizes([380, 620])
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(results)
        split.setSizes([260, 460])
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.replay_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)

    # -- building the patch ------------------------------------------------------------

    def add_operation(self, kind: str, path: str, argument: str = "") -> bool:
        """Appends one simple operation to the patch text; False (and says why) if unusable."""
        try:
            new = operation(kind, path, argument)
            text = self.patch_edit.toPlainText().strip()
            operations = json.loads(text) if text else []
            if not isinstance(operations, list):
                raise PatchError("The patch text is not a list of operations.")
        except (PatchError, ValueError) as exc:
            self._show_error(str(exc))
            return False
        operations.append(new)
        self.patch_edit.setPlainText(json.dumps(operations, indent=2, ensure_ascii=False))
        return True

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    # -- previewing --------------------------------------------------------------------

    def preview(self) -> None:
        """Applies the patch to every message (off the UI thread) and shows the outcome."""
        text = self.patch_edit.toPlainText()
        try:
            patch = parse_patch(text)
        except PatchError as exc:
            self._show_error(f"{exc} {exc.hint}")
            self.previewed.emit(None)
            return
        self._show_error("")
        self.summary_label.setText(f"Applying to {len(self.messages)} messages…")
        messages, schema = list(self.messages), self.schema
        AsyncOp(self, lambda: asyncio.to_thread(fix_all, messages, patch, schema)).latest_wins(
            "preview"
        ).with_context("Previewing the bulk fix").success(
            lambda plan: self._on_preview_done(text, plan)
        ).failure(self._on_preview_failed).run()

    def _on_preview_done(self, text: str, plan: BulkFix) -> None:
        self.plan = plan
        self._planned_text = text
        fixed, failed = plan.fixed, plan.failed
        self.summary_label.setText(
            f"{len(fixed)} fixed · {len(failed)} fail and are kept out"
            + (
                f" · previewing the first {PREVIEW_COUNT}"
                if len(plan.results) > PREVIEW_COUNT
                else ""
            )
        )
        shown = list(plan.results[:PREVIEW_COUNT])
        self.results_table.setRowCount(len(shown))
        for row, result in enumerate(shown):
            self.results_table.setItem(row, 0, QTableWidgetItem(result.message.id))
            self.results_table.setItem(
                row, 1, QTableWidgetItem("fixed" if result.ok else result.error)
            )
        self.failures_edit.setPlainText("\n".join(f"{r.message.id}: {r.error}" for r in failed))
        if shown:
            self.results_table.selectRow(0)
        self._update_replay_button()
        self.previewed.emit(plan)

    def _on_preview_failed(self, exc: BaseException) -> None:
        self._show_error(f"The preview failed: {exc}")
        self.summary_label.setText("")
        self.previewed.emit(None)

    def show_diff(self, result: FixResult) -> None:
        old = _pretty(result.message.body)
        new = _pretty(result.body) if result.body is not None else f"(kept out: {result.error})"
        self.diff.show_diff(old, new)

    # -- state ---------------------------------------------------------------------------

    def plan_is_current(self) -> bool:
        return self.plan is not None and self._planned_text == self.patch_edit.toPlainText()

    def _update_replay_button(self) -> None:
        fixed = len(self.plan.fixed) if self.plan is not None else 0
        ready = self.plan_is_current() and fixed > 0
        self.replay_button.setEnabled(ready)
        if not self.plan_is_current():
            why = "Preview the patch first"
        elif not ready:
            why = "No message was fixed"
        else:
            why = f"Replay the {fixed} fixed messages through the replay wizard"
        self.replay_button.setToolTip(why)

    # -- handlers ------------------------------------------------------------------------

    def _on_operation_combo_changed(self, kind: str) -> None:
        self.argument_edit.setPlaceholderText(_ARGUMENT_HINTS.get(kind, ""))
        self.argument_edit.setEnabled(kind != "remove")

    def _on_add_button_clicked(self) -> None:
        if self.add_operation(
            self.operation_combo.currentText(), self.path_edit.text(), self.argument_edit.text()
        ):
            self.path_edit.clear()
            self.argument_edit.clear()

    def _on_patch_edit_text_changed(self) -> None:
        self._update_replay_button()

    def _on_results_table_selection_changed(self) -> None:
        rows = {index.row() for index in self.results_table.selectedIndexes()}
        if self.plan is not None and rows:
            self.show_diff(self.plan.results[min(rows)])

    def _on_replay_button_clicked(self) -> None:
        if not self.plan_is_current() or self.plan is None or not self.plan.fixed:
            return
        plan = self.plan
        self.accept()
        self.replay_requested.emit([r.message for r in plan.fixed], plan.edits())

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        self.cancel_tasks()
        super().done(result)


def _pretty(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")
