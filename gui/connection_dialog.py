"""Asks for a new connection's settings and turns them into a ConnectionProfile.

The profile never holds a password: it names an environment variable, or says "ask
when connecting", or the password typed here goes to the OS keyring (SecretStore) on
save, and to memory only when there is no keyring.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, environment_colour
from eventdesk.connectors.secrets import SecretStore
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
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
_KINDS = (
    ("Kafka", BrokerKind.KAFKA),
    ("RabbitMQ", BrokerKind.RABBITMQ),
    ("SQS", BrokerKind.SQS),
    ("NATS JetStream", BrokerKind.NATS),
)
_ENVIRONMENT_TITLES = (
    ("None", ""),
    ("Development", "dev"),
    ("Staging", "staging"),
    ("Production", "production"),
)


def _swatch(colour: str | None) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour) if colour else QColor(0, 0, 0, 0))
    return QIcon(pixmap)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


class ConnectionDialog(QDialog):
    def __init__(
        self,
        existing_names: Collection[str] = (),
        parent: QWidget | None = None,
        *,
        secrets: SecretStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New connection")
        self.setMinimumWidth(520)
        self._existing = {name.casefold() for name in existing_names}
        self._secrets = secrets
        # Set on accept: whether the typed password went to the keyring (None: none typed).
        self.password_persisted: bool | None = None

        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("e.g. Production Kafka")
        self.kind_combo = QComboBox(self)
        for title, kind in _KINDS:
            self.kind_combo.addItem(title, kind)

        # One form for every kind, so labels line up; rows of other kinds are hidden.
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # Created in the order they are shown: that order is the Tab order.
        self.environment_combo = QComboBox(self)
        for title, environment in _ENVIRONMENT_TITLES:
            self.environment_combo.addItem(_swatch(environment_colour(environment)), title)
            self.environment_combo.setItemData(self.environment_combo.count() - 1, environment)
        self.environment_combo.setToolTip(
            "Production connections show a coloured banner on every view of theirs"
        )
        self.read_only_check = QCheckBox("&Read-only: disable every write action", self)
        self.form.addRow("&Name:", self.name_edit)
        self.form.addRow("&Broker:", self.kind_combo)
        self.form.addRow("&Environment:", self.environment_combo)
        self.form.addRow("", self.read_only_check)
        self._kind_rows: dict[BrokerKind, list[QWidget | QLayout]] = {}
        self._kafka_rows()
        self._rabbitmq_rows()
        self._sqs_rows()
        self._nats_rows()

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
        for radio in (self.keyring_password, self.ask_password, self.env_password):
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
        self.keyring_password = QRadioButton("Save in the OS &keyring:", self)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password")
        self.keyring_label = QLabel(self)
        self.keyring_label.setWordWrap(True)
        self.ask_password = QRadioButton("&Ask when connecting (kept in memory only)", self)
        self.env_password = QRadioButton("Read from en&vironment variable:", self)
        self.password_env_edit = QLineEdit(self)
        self.password_env_edit.setPlaceholderText("RABBITMQ_PASSWORD")
        group = QButtonGroup(self)
        group.addButton(self.keyring_password)
        group.addButton(self.ask_password)
        group.addButton(self.env_password)
        self.ask_password.setChecked(True)
        keyring_row = QHBoxLayout()
        keyring_row.addWidget(self.keyring_password)
        keyring_row.addWidget(self.password_edit, 1)
        env_row = QHBoxLayout()
        env_row.addWidget(self.env_password)
        env_row.addWidget(self.password_env_edit, 1)
        password_box = QVBoxLayout()
        password_box.addLayout(keyring_row)
        password_box.addWidget(self.keyring_label)
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
        self.keyring_password.toggled.connect(self.password_edit.setEnabled)
        self.password_edit.setEnabled(False)
        self._show_keyring_state()

    def _show_keyring_state(self) -> None:
        store = self._secrets
        if store is None:
            self.keyring_password.setEnabled(False)
            self.keyring_label.setText("No password store was given to this dialog.")
        elif store.persistent:
            backend = f" ({store.backend_name})" if store.backend_name else ""
            self.keyring_label.setText(
                f"Stored in the OS keyring{backend}, never in the connections file."
            )
            self.keyring_label.setStyleSheet("")
        else:
            self.keyring_label.setText(store.unavailable_reason)
            self.keyring_label.setStyleSheet("color: #b26a00;")

    def _nats_rows(self) -> None:
        self.nats_servers_edit = QLineEdit(self)
        self.nats_servers_edit.setPlaceholderText("nats://host:4222")
        self.nats_servers_edit.setToolTip("Comma-separated nats:// URLs of any servers")
        self._add_row(BrokerKind.NATS, "Servers:", self.nats_servers_edit)

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
    def environment(self) -> str:
        return str(self.environment_combo.currentData() or "")

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
            stored = self.password_persisted is not None  # and cleared from the field
            if self.keyring_password.isChecked() and not self.password_edit.text() and not stored:
                return "Enter the password to keep in the OS keyring."
        elif self.kind is BrokerKind.NATS:
            if not self.nats_servers_edit.text().strip():
                return "Enter at least one server, e.g. nats://127.0.0.1:4222."
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
        return ConnectionProfile(
            self.name_edit.text().strip(),
            self.kind,
            self._settings(),
            environment=self.environment,
            read_only=self.read_only_check.isChecked(),
        )

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
        if self.kind is BrokerKind.NATS:
            return {"servers": self.nats_servers_edit.text().strip()}
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
        if self.problem() is not None:
            return
        self._store_password()
        super().accept()

    def _store_password(self) -> None:
        if not (self.kind is BrokerKind.RABBITMQ and self.keyring_password.isChecked()):
            return
        assert self._secrets is not None  # the option is disabled without a store
        name = self.name_edit.text().strip()
        self.password_persisted = self._secrets.set(name, "password", self.password_edit.text())
        # Out of the widget as soon as it is stored: nothing later can read it back from here.
        self.password_edit.clear()
