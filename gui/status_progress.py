"""A busy indicator for the status bar; AsyncOp shows it only for slow work."""

from __future__ import annotations

import itertools

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


class StatusProgressWidget(QWidget):
    """Implements operations.ProgressSink: begin() returns a token that end() takes back."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: dict[int, str] = {}
        self._tokens = itertools.count(1)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # busy: nothing here knows how far along it is
        self.bar.setFixedWidth(110)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self._refresh()

    def begin(self, label: str) -> object:
        token = next(self._tokens)
        self._labels[token] = label
        self._refresh()
        return token

    def end(self, token: object) -> None:
        if isinstance(token, int):
            self._labels.pop(token, None)
        self._refresh()

    @property
    def active_labels(self) -> list[str]:
        return list(self._labels.values())

    def _refresh(self) -> None:
        labels = list(self._labels.values())
        self.setVisible(bool(labels))
        if labels:
            # The newest is what the operator just asked for.
            more = f" (+{len(labels) - 1} more)" if len(labels) > 1 else ""
            self.label.setText(labels[-1] + more)
