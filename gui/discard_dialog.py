"""Asks before removing dead letters for good: discard names the count and the endpoint (and on
production wants the endpoint's name typed); purge always wants the name typed."""

from __future__ import annotations

from eventdesk.connectors.profiles import ConnectionProfile
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class ConfirmByNameDialog(QDialog):
    """Cancel is the default; the confirm button waits for the endpoint's name if asked."""

    def __init__(
        self,
        *,
        title: str,
        text: str,
        confirm_text: str,
        endpoint: str,
        needs_name: bool,
        why_name: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.setWindowTitle(title)
        self.message_label = QLabel(text, self)
        self.message_label.setWordWrap(True)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText(endpoint)
        self.name_label = QLabel(f"{why_name}: type <b>{endpoint}</b>", self)
        self.name_label.setBuddy(self.name_edit)
        self.name_label.setVisible(needs_name)
        self.name_edit.setVisible(needs_name)
        self._needs_name = needs_name
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.confirm_button = QPushButton(confirm_text, self)
        buttons.addButton(self.confirm_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        # Cancel is the default: Enter must not remove anything.
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setDefault(True)
        self.name_edit.textChanged.connect(self._on_name_edit_text_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message_label)
        layout.addWidget(self.name_label)
        layout.addWidget(self.name_edit)
        layout.addWidget(buttons)
        self._on_name_edit_text_changed(self.name_edit.text())

    def confirmed(self) -> bool:
        return not self._needs_name or self.typed_name() == self.endpoint

    def typed_name(self) -> str:
        return self.name_edit.text().strip() if self._needs_name else self.endpoint

    def _on_name_edit_text_changed(self, _text: str) -> None:
        self.confirm_button.setEnabled(self.confirmed())


class DiscardDialog(ConfirmByNameDialog):
    def __init__(
        self, count: int, endpoint: str, profile: ConnectionProfile, parent: QWidget | None = None
    ) -> None:
        plural = "s" if count != 1 else ""
        super().__init__(
            title="Discard messages",
            text=f"Discard {count} message{plural} from {endpoint} on {profile.name}?\n"
            "They are removed for good; the journal keeps their ids and payload hashes.",
            confirm_text=f"&Discard {count} message{plural}",
            endpoint=endpoint,
            needs_name=profile.is_production,
            why_name="This is a production connection",
            parent=parent,
        )
        self.count = count
        self.discard_button = self.confirm_button


class PurgeDialog(ConfirmByNameDialog):
    """Purge a whole DLQ; on Kafka it offers, checked, to delete only the handled records."""

    def __init__(
        self,
        endpoint: str,
        depth: int | None,
        profile: ConnectionProfile,
        parent: QWidget | None = None,
        *,
        can_delete_handled: bool = False,
    ) -> None:
        about = f"about {depth:,} messages" if depth is not None else "every message"
        super().__init__(
            title="Purge dead-letter queue",
            text=f"Purge {endpoint} on {profile.name}: remove {about} for good?\n"
            "Unlike discard, a purge keeps no per-message record: the journal notes only the"
            " endpoint, the depth before and how many the broker removed. Messages a consumer"
            " holds unacknowledged at this moment are not removed.",
            confirm_text="&Purge",
            endpoint=endpoint,
            needs_name=True,
            why_name="To purge",
            parent=parent,
        )
        self.purge_button = self.confirm_button
        self._purge_text = self.message_label.text()
        self.handled_only_check = QCheckBox(
            "Delete only records already &handled (replayed or discarded)", self
        )
        self.handled_only_check.setToolTip(
            "Retention clean-up: each partition loses the records below its first unhandled "
            "one. Nothing still to handle is deleted."
        )
        self.handled_only_check.setVisible(can_delete_handled)
        self.handled_only_check.setChecked(can_delete_handled)
        self.layout().insertWidget(1, self.handled_only_check)
        self.handled_only_check.toggled.connect(self._on_handled_only_toggled)
        self._on_handled_only_toggled(self.handled_only_check.isChecked())

    def handled_only(self) -> bool:
        # isHidden, not isVisible: the dialog is already closed when this is asked.
        return not self.handled_only_check.isHidden() and self.handled_only_check.isChecked()

    def _on_handled_only_toggled(self, checked: bool) -> None:
        if checked and not self.handled_only_check.isHidden():
            self.message_label.setText(
                f"Delete the handled records of {self.endpoint}: on each partition, every "
                "record below the first one not yet replayed or discarded. Records still to "
                "handle stay. Kafka cannot undo this."
            )
            self.purge_button.setText("&Delete handled records")
        else:
            self.message_label.setText(self._purge_text)
            self.purge_button.setText("&Purge")
