"""Chooses, or creates, the stream in which a NATS connection keeps JetStream's dead letters.

JetStream has no dead-letter queue: when a consumer gives up on a message the server only
publishes an advisory. Eventdesk reads dead letters from a stream that captures those
advisories; this dialog lets the operator pick one that exists or name a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.profiles import ConnectionProfile
from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .operations import AsyncOp, TaskOwner

if TYPE_CHECKING:
    from eventdesk.connectors.nats import CaptureStream, NatsConnector

EXPLANATION = (
    "JetStream keeps no dead letters: when a consumer gives up on a message (max deliveries, "
    "or terminated), the server only announces it in an advisory. Eventdesk shows dead "
    "letters from a stream that captures those advisories. Choose one that exists, or type "
    "a new name to create it."
)
LOADING_TEXT = "Looking for streams that capture advisories…"


class NatsCaptureDialog(QDialog, TaskOwner):
    # (stream name, whether it was created) once the connection reads dead letters from it.
    capture_ready = Signal(str, bool)

    def __init__(
        self,
        profile: ConnectionProfile,
        connector: NatsConnector,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.profile = profile
        self._connector = connector
        self._streams: dict[str, CaptureStream] = {}
        self.setWindowTitle(f"Dead-letter capture — {profile.name}")
        self.explanation_label = QLabel(EXPLANATION, self)
        self.explanation_label.setWordWrap(True)
        self.stream_combo = QComboBox(self)
        self.stream_combo.setEditable(True)
        self.stream_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.stream_combo.setToolTip("A stream name: one that captures advisories, or a new one")
        self.stream_combo.setEditText(connector.advisory_stream)
        stream_label = QLabel("Capture &stream:", self)
        stream_label.setBuddy(self.stream_combo)
        self.state_label = QLabel(LOADING_TEXT, self)
        self.state_label.setWordWrap(True)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.use_button = QPushButton("&Use stream", self)
        self.use_button.setDefault(True)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation_label)
        layout.addWidget(stream_label)
        layout.addWidget(self.stream_combo)
        layout.addWidget(self.state_label)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

        self.stream_combo.editTextChanged.connect(self._on_stream_combo_edit_text_changed)
        self._loaded = False
        AsyncOp(self, connector.advisory_capture_streams).latest_wins("load").success(
            self._on_streams_loaded
        ).failure(self._show_error).run()

    @property
    def stream_name(self) -> str:
        return self.stream_combo.currentText().strip()

    @property
    def loaded(self) -> bool:
        """Whether the server's capture streams were listed (or listing failed)."""
        return self._loaded

    # -- answers ------------------------------------------------------------------------

    def _on_streams_loaded(self, streams: list[CaptureStream]) -> None:
        self._loaded = True
        self._streams = {s.name: s for s in streams}
        typed = self.stream_name
        self.stream_combo.blockSignals(True)
        self.stream_combo.clear()
        self.stream_combo.addItems([s.name for s in streams])
        complete = [s.name for s in streams if s.complete]
        # What the connection uses now, unless it captures nothing and another stream does.
        chosen = typed if typed in self._streams or not complete else complete[0]
        self.stream_combo.setEditText(chosen)
        self.stream_combo.blockSignals(False)
        self._describe()

    def _on_stream_combo_edit_text_changed(self, _text: str) -> None:
        self.error_label.hide()
        self._describe()

    def _describe(self) -> None:
        name = self.stream_name
        stream = self._streams.get(name)
        self.use_button.setEnabled(bool(name))
        if not self._loaded:
            self.state_label.setText(LOADING_TEXT)
        elif not name:
            self.state_label.setText("Type a stream name.")
        elif stream is None:
            self.use_button.setText("&Create stream")
            self.state_label.setText(
                f"{name} will be created, capturing max-delivery and terminated advisories "
                "of every consumer."
            )
        elif stream.complete:
            self.use_button.setText("&Use stream")
            self.state_label.setText(
                f"{name} captures max-delivery and terminated advisories "
                f"({stream.messages:,} kept)."
            )
        else:
            self.use_button.setText("&Use stream")
            self.state_label.setText(
                f"{name} captures only some advisories ({', '.join(stream.subjects)}); "
                "dead letters outside them will not be seen."
            )

    def _show_error(self, exc: BaseException) -> None:
        self._loaded = True
        hint = exc.hint if isinstance(exc, EventdeskError) else ""
        self.error_label.setText(f"{exc}\n{hint}".strip())
        self.error_label.show()
        self._describe()

    # -- accepting ----------------------------------------------------------------------

    def accept(self) -> None:
        name = self.stream_name
        if not name or self.is_running("use"):
            return
        self.use_button.setEnabled(False)
        self.error_label.hide()
        AsyncOp(self, lambda: self._connector.use_advisory_capture(name)).latest_wins(
            "use"
        ).success(lambda created: self._on_capture_used(name, created)).failure(
            self._show_error
        ).run()

    def _on_capture_used(self, name: str, created: bool) -> None:
        self.capture_ready.emit(name, created)
        super().accept()

    def done(self, result: int) -> None:
        self.cancel_task("load")
        if result != QDialog.DialogCode.Accepted:
            # Cancelled mid-way: the connection keeps the stream it had.
            self.cancel_task("use")
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)
