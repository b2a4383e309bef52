"""Where one secret of a connection comes from: the OS keyring, a prompt, or a variable.

The profile never holds the secret itself: at most the name of the environment variable.
A secret typed here goes to the keyring (SecretStore) when the dialog is accepted.
"""

from __future__ import annotations

import re

from eventdesk.connectors.secrets import SecretStore
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

KEYRING, ASK, ENVIRONMENT = "keyring", "ask", "environment"


class SecretSourceWidget(QWidget):
    """Keyring (typed here), ask when connecting, or an environment variable's name."""

    changed = Signal()

    def __init__(
        self,
        field: str,
        *,
        secrets: SecretStore | None,
        env_placeholder: str,
        mnemonics: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        # Never squeezed below its rows: the form grows instead.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.field = field
        self._secrets = secrets
        # Set once stored: whether the typed secret went to the keyring (None: not stored).
        self.persisted: bool | None = None
        amp = "&" if mnemonics else ""
        # Created in the order they are shown: that order is the Tab order.
        self.keyring_radio = QRadioButton(f"Save in the OS {amp}keyring:", self)
        self.secret_edit = QLineEdit(self)
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText(field)
        self.secret_edit.setAccessibleName(field)
        self.keyring_label = QLabel(self)
        self.keyring_label.setWordWrap(True)
        self.ask_radio = QRadioButton(f"{amp}Ask when connecting (kept in memory only)", self)
        self.env_radio = QRadioButton(f"Read from en{amp}vironment variable:", self)
        self.env_edit = QLineEdit(self)
        self.env_edit.setPlaceholderText(env_placeholder)
        group = QButtonGroup(self)
        for radio in (self.keyring_radio, self.ask_radio, self.env_radio):
            group.addButton(radio)
            radio.toggled.connect(self._on_radio_toggled)
        self.ask_radio.setChecked(True)

        keyring_row = QHBoxLayout()
        keyring_row.addWidget(self.keyring_radio)
        keyring_row.addWidget(self.secret_edit, 1)
        env_row = QHBoxLayout()
        env_row.addWidget(self.env_radio)
        env_row.addWidget(self.env_edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(keyring_row)
        layout.addWidget(self.keyring_label)
        layout.addWidget(self.ask_radio)
        layout.addLayout(env_row)
        self.secret_edit.textChanged.connect(self.changed)
        self.env_edit.textChanged.connect(self.changed)
        self._on_radio_toggled()
        self._show_keyring_state()

    @property
    def mode(self) -> str:
        if self.keyring_radio.isChecked():
            return KEYRING
        if self.env_radio.isChecked():
            return ENVIRONMENT
        return ASK

    @property
    def env_name(self) -> str:
        return self.env_edit.text().strip()

    def problem(self) -> str | None:
        if self.mode == ENVIRONMENT and not _ENV_NAME.match(self.env_name):
            return (
                f"Name the environment variable that holds the {self.field} (letters, digits, _)."
            )
        if self.mode == KEYRING and not self.secret_edit.text() and self.persisted is None:
            return f"Enter the {self.field} to keep in the OS keyring."
        return None

    def typed(self) -> str | None:
        """The secret typed for the keyring, if any (for a test before saving)."""
        return self.secret_edit.text() or None if self.mode == KEYRING else None

    def store(self, profile_name: str) -> None:
        """Puts a typed secret in the store and out of the widget."""
        if self.mode != KEYRING or not self.secret_edit.text():
            return
        assert self._secrets is not None  # the option is disabled without a store
        self.persisted = self._secrets.set(profile_name, self.field, self.secret_edit.text())
        # Out of the widget as soon as it is stored: nothing later can read it back from here.
        self.secret_edit.clear()

    def _on_radio_toggled(self, *_args: object) -> None:
        self.secret_edit.setEnabled(self.keyring_radio.isChecked())
        self.env_edit.setEnabled(self.env_radio.isChecked())
        self.changed.emit()

    def _show_keyring_state(self) -> None:
        store = self._secrets
        if store is None:
            self.keyring_radio.setEnabled(False)
            self.keyring_label.setText("No password store was given to this dialog.")
        elif store.persistent:
            backend = f" ({store.backend_name})" if store.backend_name else ""
            self.keyring_label.setText(
                f"Stored in the OS keyring{backend}, never in the connections file."
            )
        else:
            self.keyring_label.setText(store.unavailable_reason)
            self.keyring_label.setStyleSheet("color: #b26a00;")
