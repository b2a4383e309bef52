"""Replay a whole SQS DLQ with SQS's own move task: confirm, follow its progress, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from eventdesk.connectors.journal import Journal
from eventdesk.connectors.sqs import SqsConnector
from eventdesk.connectors.sqs_redrive import MoveResult, move_back
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .operations import AsyncOp, TaskOwner

ORIGINAL = "The queues they were dead-lettered from"


class SqsMoveDialog(QDialog, TaskOwner):
    """Starts the move on Move, shows moved / to move, and Cancel stops the task in SQS."""

    finished_move = Signal(object)  # MoveResult, or None when it failed to start

    def __init__(
        self,
        connector: SqsConnector,
        dlq: str,
        depth: int | None,
        *,
        connection: str,
        journal: Journal,
        queues: Sequence[str],
        wait_for: Collection[asyncio.Future[object]] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._connector = connector
        self._dlq = dlq
        self._connection = connection
        self._journal = journal
        self._cancel = asyncio.Event()
        # A browser giving the DLQ's messages back: SQS moves only what it can see.
        self._wait_for = set(wait_for)
        self.result: MoveResult | None = None
        self.setWindowTitle(f"Move all of {dlq} back")
        about = f"all {depth:,} messages" if depth is not None else "every message"
        intro = QLabel(
            f"SQS moves {about} of {dlq} itself (StartMessageMoveTask), oldest first, and"
            " deletes each from the DLQ once moved: nothing is lost. The journal records the"
            " task, not each message.",
            self,
        )
        intro.setWordWrap(True)
        self.destination_combo = QComboBox(self)
        self.destination_combo.addItem(ORIGINAL, None)
        for queue in queues:
            if queue != dlq:
                self.destination_combo.addItem(queue, queue)
        self.rate_spin = QSpinBox(self)
        self.rate_spin.setRange(0, 500)
        self.rate_spin.setSpecialValueText("As fast as SQS goes")
        self.rate_spin.setSuffix(" messages/s")
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.hide()
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&Move to:", self.destination_combo)
        form.addRow("&Rate limit:", self.rate_spin)
        self.buttons = QDialogButtonBox(self)
        self.move_button = QPushButton("&Move all back", self)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.addButton(self.move_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.move_button.clicked.connect(self._on_move_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

    @property
    def running(self) -> bool:
        return self.is_running("move")

    def _on_move_button_clicked(self) -> None:
        self.move_button.setEnabled(False)
        self.destination_combo.setEnabled(False)
        self.rate_spin.setEnabled(False)
        self.progress_bar.show()
        self.status_label.setText("Starting the move task…")
        destination = self.destination_combo.currentData()
        rate = self.rate_spin.value() or None

        async def work() -> MoveResult:
            if self._wait_for:
                await asyncio.wait(self._wait_for)
            return await move_back(
                self._connector,
                self._dlq,
                journal=self._journal,
                source_connection=self._connection,
                destination=destination,
                max_per_second=rate,
                progress=self._on_progress,
                cancel=self._cancel,
            )

        AsyncOp(self, work).latest_wins("move").with_context(
            f"Moving {self._dlq} back on {self._connection}"
        ).success(self._on_moved).failure(self._on_failed).run()

    def _on_progress(self, moved: int, to_move: int | None) -> None:
        total = moved + to_move if to_move is not None else 0
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(moved)
        left = f", {to_move:,} to go" if to_move is not None else ""
        self.status_label.setText(f"{moved:,} moved{left}.")

    def _on_moved(self, result: MoveResult) -> None:
        self.result = result
        self.progress_bar.hide()
        self.status_label.setText(f"{result.status.capitalize()}: {result.detail}.")
        self._finish()
        self.finished_move.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self.progress_bar.hide()
        hint = getattr(exc, "hint", "")
        self.status_label.setText(f"Could not move the messages: {exc}\n{hint}".strip())
        self._finish()
        self.finished_move.emit(None)

    def _finish(self) -> None:
        self.cancel_button.setText("Close")

    def _on_cancel_button_clicked(self) -> None:
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling the move task in SQS…")
            return
        self.reject()
