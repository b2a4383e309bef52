"""Asks for a new connection's settings and turns them into a ConnectionProfile.

It never asks for a password to store: the profile can only name an environment
variable, or say "ask when connecting" (the answer is kept in memory only).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

_HOST_PORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KINDS = (("Kafka", BrokerKind.KAFKA), ("RabbitMQ", BrokerKind.RABBITMQ), ("SQS", BrokerKind.SQS))


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


class ConnectionDialog(QDialog):
    def __init__(self, existing_names: Collection[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New connection")
        self.setMinimumWidth(520)
        self._existing = {name.casefold() for name in existing_names}

        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("e.g. Production Kafka")
        self.kind_combo = QComboBox(self)
        for title, kind in _KINDS:
            self.kind_combo.addItem(title, kind)

        # One form for every kind, so labels line up; rows of other kinds are hidden.
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Name:", self.name_edit)
        self.form.addRow("Broker:", self.kind_combo)
        self._kind_rows: dict[BrokerKind, list[QWidget | QLayout]] = {}
        self._kafka_rows()
        self._rabbitmq_rows()
        self._sqs_rows()

        self.problem_label = QLabel(self)
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c62828;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addStretch(1)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)

        self.kind_combo.currentIndexChanged.connect(self._on_kind_combo_changed)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._validate)
        for radio in (self.ask_password, self.env_password):
            radio.toggled.connect(self._validate)
        self._show_rows_of(self.kind)
        self._validate()

    def _add_row(self, kind: BrokerKind, label: str, field: QWidget | QLayout) -> None:
        self.form.addRow(label, field)
        self._kind_rows.setdefault(kind, []).append(field)

    def _show_rows_of(self, kind: BrokerKind) -> None:
        for rows_kind, fields in self._kind_rows.items():
            for field in fields:
                self.form.setRowVisible(field, rows_kind is kind)
        self.adjustSize()

    def row_visible(self, field: QWidget) -> bool:
        return field.isVisibleTo(self)

    # -- rows -------------------------------------------------------------------------

    def _kafka_rows(self) -> None:
        self.bootstrap_edit = QLineEdit(self)
        self.bootstrap_edit.setPlaceholderText("host:9092, host2:9092")
        self.bootstrap_edit.setToolTip("Comma-separated host:port pairs of any brokers")
        self._add_row(BrokerKind.KAFKA, "Bootstrap servers:", self.bootstrap_edit)

    def _rabbitmq_rows(self) -> None:
        self.host_edit = QLineEdit("127.0.0.1", self)
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(5672)
        self.vhost_edit = QLineEdit("/", self)
        self.username_edit = QLineEdit("guest", self)
        self.management_edit = QLineEdit(self)
        self.management_edit.setPlaceholderText("http://host:15672 (for depths and DLQ detection)")
        self.ask_password = QRadioButton("Ask when connecting (kept in memory only)", self)
        self.env_password = QRadioButton("Read from environment variable:", self)
        self.password_env_edit = QLineEdit(self)
        self.password_env_edit.setPlaceholderText("RABBITMQ_PASSWORD")
        group = QButtonGroup(self)
        group.addButton(self.ask_password)
        group.addButton(self.env_password)
        self.ask_password.setChecked(True)
        env_row = QHBoxLayout()
        env_row.addWidget(self.env_password)
        env_row.addWidget(self.password_env_edit, 1)
        password_box = QVBoxLayout()
        password_box.addWidget(self.ask_password)
        password_box.addLayout(env_row)
        rabbitmq = BrokerKind.RABBITMQ
        self._add_row(rabbitmq, "Host:", self.host_edit)
        self._add_row(rabbitmq, "Port:", self.port_spin)
        self._add_row(rabbitmq, "Virtual host:", self.vhost_edit)
        self._add_row(rabbitmq, "User name:", self.username_edit)
        self._add_row(rabbitmq, "Management URL:", self.management_edit)
        self._add_row(rabbitmq, "Password:", password_box)
        self.env_password.toggled.connect(self.password_env_edit.setEnabled)
        self.password_env_edit.setEnabled(False)

    def _sqs_rows(self) -> None:
        self.region_edit = QLineEdit("us-east-1", self)
        self.endpoint_edit = QLineEdit(self)
        self.endpoint_edit.setPlaceholderText(
            "leave empty for AWS; http://host:4566 for LocalStack"
        )
        self.aws_profile_edit = QLineEdit(self)
        self.aws_profile_edit.setPlaceholderText("default credential chain when empty")
        self._add_row(BrokerKind.SQS, "Region:", self.region_edit)
        self._add_row(BrokerKind.SQS, "Endpoint URL:", self.endpoint_edit)
        self._add_row(BrokerKind.SQS, "AWS profile:", self.aws_profile_edit)

    # -- result -----------------------------------------------------------------------

    @property
    def kind(self) -> BrokerKind:
        # Qt hands str subclasses back as plain str.
        return BrokerKind(self.kind_combo.currentData())

    def problem(self) -> str | None:
        """What stops the profile from being valid, in words for the operator."""
        name = self.name_edit.text().strip()
        if not name:
            return "Give the connection a name."
        if name.casefold() in self._existing:
            return f"A connection named {name!r} already exists."
        if self.kind is BrokerKind.KAFKA:
            servers = [s.strip() for s in self.bootstrap_edit.text().split(",") if s.strip()]
            if not servers:
                return "Enter at least one bootstrap server as host:port."
            bad = [s for s in servers if not _HOST_PORT.match(s)]
            if bad:
                return f"Not host:port: {bad[0]}"
        elif self.kind is BrokerKind.RABBITMQ:
            if not self.host_edit.text().strip():
                return "Enter the RabbitMQ host."
            if not self.username_edit.text().strip():
                return "Enter the user name."
            url = self.management_edit.text().strip()
            if url and not _is_url(url):
                return "The management URL must start with http:// or https://."
            env = self.password_env_edit.text().strip()
            if self.env_password.isChecked() and not _ENV_NAME.match(env):
                return "Name the environment variable that holds the password (letters, digits, _)."
        else:
            if not self.region_edit.text().strip():
                return "Enter the AWS region, e.g. us-east-1."
            url = self.endpoint_edit.text().strip()
            if url and not _is_url(url):
                return "The endpoint URL must start with http:// or https://."
        return None

    def profile(self) -> ConnectionProfile:
        problem = self.problem()
        if problem is not None:
            raise ConfigurationError(problem)
        return ConnectionProfile(self.name_edit.text().strip(), self.kind, self._settings())

    def _settings(self) -> dict[str, str]:
        if self.kind is BrokerKind.KAFKA:
            servers = [s.strip() for s in self.bootstrap_edit.text().split(",") if s.strip()]
            return {"bootstrap_servers": ",".join(servers)}
        if self.kind is BrokerKind.RABBITMQ:
            settings = {
                "host": self.host_edit.text().strip(),
                "port": str(self.port_spin.value()),
                "vhost": self.vhost_edit.text() or "/",
                "username": self.username_edit.text().strip(),
            }
            if self.management_edit.text().strip():
                settings["management_url"] = self.management_edit.text().strip()
            if self.env_password.isChecked():
                settings["password_env"] = self.password_env_edit.text().strip()
            return settings
        settings = {"region": self.region_edit.text().strip()}
        if self.endpoint_edit.text().strip():
            settings["endpoint_url"] = self.endpoint_edit.text().strip()
        if self.aws_profile_edit.text().strip():
            settings["aws_profile"] = self.aws_profile_edit.text().strip()
        return settings

    def _on_kind_combo_changed(self, _index: int) -> None:
        self._show_rows_of(self.kind)
        self._validate()

    def _validate(self, *_args: object) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def accept(self) -> None:
        # Enter in a field triggers accept even while the button is disabled.
        if self.problem() is None:
            super().accept()
