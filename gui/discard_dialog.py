"""Asks before discarding dead letters: names the count and the endpoint, and on production
connections wants the endpoint's name typed."""

from __future__ import annotations

from eventdesk.connectors.profiles import ConnectionProfile
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class DiscardDialog(QDialog):
    def __init__(
        self, count: int, endpoint: str, profile: ConnectionProfile, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.count = count
        self.setWindowTitle("Discard messages")
        plural = "s" if count != 1 else ""
        self.message_label = QLabel(
            f"Discard {count} message{plural} from {endpoint} on {profile.name}?\n"
            "They are removed for good; the journal keeps their ids and payload hashes.",
            self,
        )
        self.message_label.setWordWrap(True)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText(endpoint)
        self.name_label = QLabel(f"This is a production connection: type <b>{endpoint}</b>", self)
        self.name_label.setBuddy(self.name_edit)
        self.name_label.setVisible(profile.is_production)
        self.name_edit.setVisible(profile.is_production)
        self._needs_name = profile.is_production
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.discard_button = QPushButton(f"&Discard {count} message{plural}", self)
        buttons.addButton(self.discard_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        # Cancel is the default: Enter must not discard.
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        self.name_edit.textChanged.connect(self._on_name_edit_text_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message_label)
        layout.addWidget(self.name_label)
        layout.addWidget(self.name_edit)
        layout.addWidget(buttons)
        self._on_name_edit_text_changed(self.name_edit.text())

    def confirmed(self) -> bool:
        return not self._needs_name or self.name_edit.text().strip() == self.endpoint

    def _on_name_edit_text_changed(self, _text: str) -> None:
        self.discard_button.setEnabled(self.confirmed())

    def accept(self) -> None:
        if self.confirmed():
            super().accept()
