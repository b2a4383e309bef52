"""The checklist "Test connection" fills in: one row per step, with progress and a cancel button."""

from __future__ import annotations

from dataclasses import dataclass

from eventdesk.connectors.diagnosis import StepResult
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

_PENDING, _RUNNING, _PASSED, _FAILED, _SKIPPED = "·", "…", "✔", "✘", "–"
_MARK_COLOURS = {_PASSED: "#2e7d32", _FAILED: "#c62828"}


@dataclass
class _StepRow:
    mark: QLabel
    name: QLabel
    detail: QLabel
    hint: QLabel
    result: StepResult | None = None


class ConnectionTestPanel(QWidget):
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: dict[str, _StepRow] = {}
        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Sto&p test", self)
        self.cancel_button.clicked.connect(self.cancel_requested)
        top = QHBoxLayout()
        top.addWidget(self.summary_label, 1)
        top.addWidget(self.progress_bar)
        top.addWidget(self.cancel_button)
        self._grid = QGridLayout()
        self._grid.setColumnStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(self._grid)
        self._set_running(False)
        self.hide()

    # -- driven by the dialog ---------------------------------------------------------

    def start(self, steps: list[str]) -> None:
        self._clear()
        for line, name in enumerate(steps):
            row = _StepRow(QLabel(_PENDING, self), QLabel(name, self), QLabel(self), QLabel(self))
            row.detail.setWordWrap(True)
            row.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            row.hint.setWordWrap(True)
            row.hint.setStyleSheet("color: #555; font-style: italic;")
            self._grid.addWidget(row.mark, line * 2, 0, Qt.AlignmentFlag.AlignTop)
            self._grid.addWidget(row.name, line * 2, 1, Qt.AlignmentFlag.AlignTop)
            self._grid.addWidget(row.detail, line * 2, 2)
            self._grid.addWidget(row.hint, line * 2 + 1, 2)
            row.hint.hide()
            self._rows[name] = row
        self.progress_bar.setRange(0, len(steps))
        self.progress_bar.setValue(0)
        self.summary_label.setText("Testing the connection…")
        self.summary_label.setStyleSheet("")
        self._set_running(True)
        self._mark_next_running()
        self.show()

    def show_result(self, result: StepResult) -> None:
        row = self._rows.get(result.name)
        if row is None:
            return
        row.result = result
        mark = _PASSED if result.ok else _FAILED
        row.mark.setText(mark)
        row.mark.setStyleSheet(f"color: {_MARK_COLOURS[mark]}; font-weight: bold;")
        row.detail.setText(result.detail)
        row.hint.setText(f"What to do: {result.hint}" if result.hint else "")
        row.hint.setVisible(bool(result.hint) and not result.ok)
        self.progress_bar.setValue(sum(1 for r in self._rows.values() if r.result is not None))
        self._mark_next_running()

    def finish(self, *, cancelled: bool = False, error: str = "") -> None:
        for row in self._rows.values():
            if row.result is None:
                row.mark.setText(_SKIPPED)
                row.mark.setStyleSheet("")
                row.detail.setText("Cancelled." if cancelled else "Not run.")
        self._set_running(False)
        failed = next((r.result for r in self._rows.values() if r.result and not r.result.ok), None)
        if error:
            text, colour = f"The test itself failed: {error}", "#c62828"
        elif cancelled:
            text, colour = "Test cancelled.", ""
        elif failed is not None:
            text, colour = f"Failed at {failed.name.lower()}; see below.", "#c62828"
        else:
            text, colour = "Every check passed: Eventdesk can use this connection.", "#2e7d32"
        self.summary_label.setText(text)
        self.summary_label.setStyleSheet(f"color: {colour};" if colour else "")

    # -- read by tests and the dialog --------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def results(self) -> list[StepResult]:
        return [row.result for row in self._rows.values() if row.result is not None]

    def row_texts(self, name: str) -> tuple[str, str, str]:
        """(mark, detail, hint) as shown for a step."""
        row = self._rows[name]
        return row.mark.text(), row.detail.text(), row.hint.text()

    # -- internals ---------------------------------------------------------------------

    def _mark_next_running(self) -> None:
        if any(r.result is not None and not r.result.ok for r in self._rows.values()):
            return
        pending = next((row for row in self._rows.values() if row.result is None), None)
        if pending is not None:
            pending.mark.setText(_RUNNING)
            pending.detail.setText("Checking…")

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.progress_bar.setVisible(running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)

    def _clear(self) -> None:
        for row in self._rows.values():
            for label in (row.mark, row.name, row.detail, row.hint):
                self._grid.removeWidget(label)
                label.deleteLater()
        self._rows.clear()
