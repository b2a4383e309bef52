"""Asks for a new connection's settings, tests them, and turns them into a ConnectionProfile.

The profile never holds a secret: it names an environment variable, or says "ask when
connecting", or the secret typed here goes to the OS keyring (SecretStore) on save, and
to memory only when there is no keyring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path

from eventdesk.connectors.diagnosis import StepResult, diagnose, planned_steps
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, environment_colour
from eventdesk.connectors.secrets import SecretStore
from eventdesk.connectors.sqs import BROWSE_HOLD_SECONDS
from PySide6.QtGui import QCloseEvent, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .connection_test_panel import ConnectionTestPanel
from .operations import AsyncOp, TaskOwner
from .secret_source_widget import ASK, ENVIRONMENT, KEYRING, SecretSourceWidget

_HOST_PORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")
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
_KAFKA_AUTH = (
    ("None", ""),
    ("SASL/PLAIN", "PLAIN"),
    ("SASL/SCRAM-SHA-256", "SCRAM-SHA-256"),
    ("SASL/SCRAM-SHA-512", "SCRAM-SHA-512"),
)
_AWS_CREDENTIALS = (
    ("Default chain (environment, ~/.aws, instance role)", "default"),
    ("Named AWS profile", "profile"),
    ("Access key (secret in the OS keyring)", "keys"),
)
_NATS_AUTH = (
    ("None", ""),
    ("User and password", "user"),
    ("Token", "token"),
    ("Credentials file (.creds)", "creds"),
    ("NKey (public key and seed)", "nkey"),
)
# A NATS user's public key: "U" and 55 more base32 letters (the nkeys spec).
_NKEY_USER = re.compile(r"^U[A-Z2-7]{55}$")
_UNSAFE_HOSTNAME = (
    "Unsafe: any certificate signed by the CA is accepted for this host, so a "
    "man-in-the-middle with such a certificate goes unnoticed."
)
_AMQP_PORT, _AMQPS_PORT = 5672, 5671
# How long each step of "Test connection" may take.
TEST_STEP_TIMEOUT_S = 10.0


def _swatch(colour: str | None) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour) if colour else QColor(0, 0, 0, 0))
    return QIcon(pixmap)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


def _missing_file(edit: QLineEdit, what: str) -> str | None:
    path = edit.text().strip()
    if path and not Path(path).expanduser().is_file():
        return f"The {what} {path} does not exist."
    return None


class ConnectionDialog(QDialog, TaskOwner):
    def __init__(
        self,
        existing_names: Collection[str] = (),
        parent: QWidget | None = None,
        *,
        secrets: SecretStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New connection")
        self.setMinimumWidth(560)
        self._existing = {name.casefold() for name in existing_names}
        self._secrets = secrets
        # (kind, field, shown-only-when) of every kind-specific row.
        self._kind_rows: list[tuple[BrokerKind, QWidget | QLayout, Callable[[], bool]]] = []

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
        self._kafka_rows()
        self._rabbitmq_rows()
        self._sqs_rows()
        self._nats_rows()

        self.problem_label = QLabel(self)
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c62828;")
        self.test_panel = ConnectionTestPanel(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.test_button = QPushButton("&Test connection", self)
        self.test_button.setToolTip(
            "Checks name resolution, TCP, TLS, login and permissions, and says which failed"
        )
        self.buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.test_panel.cancel_requested.connect(self.cancel_test)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addStretch(1)
        layout.addWidget(self.test_panel)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)

        self.kind_combo.currentIndexChanged.connect(self._on_kind_combo_changed)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._validate)
        for widget in self._secret_widgets():
            widget.changed.connect(self._validate)
        for check in (self.kafka_tls_check, self.rabbitmq_tls_check, self.verify_hostname_check):
            check.toggled.connect(self._on_layout_choice_changed)
        for combo in (self.kafka_auth_combo, self.aws_credentials_combo, self.nats_auth_combo):
            combo.currentIndexChanged.connect(self._on_layout_choice_changed)
        self.management_username_edit.textChanged.connect(self._on_layout_choice_changed)
        self.registry_url_edit.textChanged.connect(self._on_layout_choice_changed)
        self.registry_username_edit.textChanged.connect(self._on_layout_choice_changed)
        self._show_rows_of(self.kind)
        self._validate()

    def _add_row(
        self,
        kind: BrokerKind,
        label: str,
        field: QWidget | QLayout,
        shown: Callable[[], bool] = lambda: True,
    ) -> None:
        self.form.addRow(label, field)
        self._kind_rows.append((kind, field, shown))

    def _show_rows_of(self, kind: BrokerKind) -> None:
        for rows_kind, field, shown in self._kind_rows:
            self.form.setRowVisible(field, rows_kind is kind and shown())
        self.unsafe_label.setVisible(
            kind is BrokerKind.KAFKA
            and self.kafka_tls_check.isChecked()
            and not self.verify_hostname_check.isChecked()
        )
        self.adjustSize()

    def row_visible(self, field: QWidget) -> bool:
        return field.isVisibleTo(self)

    def _file_row(self, placeholder: str) -> tuple[QLineEdit, QHBoxLayout]:
        edit = QLineEdit(self)
        edit.setPlaceholderText(placeholder)
        browse = QToolButton(self)
        browse.setText("…")
        browse.setToolTip("Choose a file")
        browse.clicked.connect(lambda: self._choose_file(edit))
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return edit, row

    def _choose_file(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", edit.text())
        if path:
            edit.setText(path)

    # -- rows -------------------------------------------------------------------------

    def _kafka_rows(self) -> None:
        kafka = BrokerKind.KAFKA
        self.bootstrap_edit = QLineEdit(self)
        self.bootstrap_edit.setPlaceholderText("host:9092, host2:9092")
        self.bootstrap_edit.setToolTip("Comma-separated host:port pairs of any brokers")
        self.kafka_auth_combo = QComboBox(self)
        for title, mechanism in _KAFKA_AUTH:
            self.kafka_auth_combo.addItem(title, mechanism)
        self.sasl_username_edit = QLineEdit(self)
        self.sasl_secret = SecretSourceWidget(
            "SASL password", secrets=self._secrets, env_placeholder="KAFKA_PASSWORD", parent=self
        )
        self.kafka_tls_check = QCheckBox("Use TLS", self)
        self.kafka_cafile_edit, cafile_row = self._file_row(
            "CA certificate (PEM); system CAs if empty"
        )
        self.kafka_certfile_edit, certfile_row = self._file_row(
            "client certificate (PEM), optional"
        )
        self.kafka_keyfile_edit, keyfile_row = self._file_row("client key (PEM), optional")
        self.registry_url_edit = QLineEdit(self)
        self.registry_url_edit.setPlaceholderText("http://host:8081 (optional: Avro, Protobuf)")
        self.registry_url_edit.setToolTip(
            "A Confluent-compatible Schema Registry, to decode messages framed with a schema id"
        )
        self.registry_username_edit = QLineEdit(self)
        self.registry_username_edit.setPlaceholderText("empty if the registry is open")
        self.registry_secret = SecretSourceWidget(
            "schema registry password",
            secrets=self._secrets,
            env_placeholder="SCHEMA_REGISTRY_PASSWORD",
            parent=self,
        )
        self.verify_hostname_check = QCheckBox("Verify the broker's host name", self)
        self.verify_hostname_check.setChecked(True)
        self.unsafe_label = QLabel(_UNSAFE_HOSTNAME, self)
        self.unsafe_label.setWordWrap(True)
        self.unsafe_label.setStyleSheet("color: #c62828; font-weight: bold;")
        hostname_box = QVBoxLayout()
        hostname_box.addWidget(self.verify_hostname_check)
        hostname_box.addWidget(self.unsafe_label)

        def sasl() -> bool:
            return bool(self.kafka_auth_combo.currentData())

        tls = self.kafka_tls_check.isChecked
        self._add_row(kafka, "Bootstrap servers:", self.bootstrap_edit)
        self._add_row(kafka, "Authentication:", self.kafka_auth_combo)
        self._add_row(kafka, "SASL user name:", self.sasl_username_edit, sasl)
        self._add_row(kafka, "SASL password:", self.sasl_secret, sasl)
        self._add_row(kafka, "Transport:", self.kafka_tls_check)
        self._add_row(kafka, "CA file:", cafile_row, tls)
        self._add_row(kafka, "Client certificate:", certfile_row, tls)
        self._add_row(kafka, "Client key:", keyfile_row, tls)
        self._add_row(kafka, "Host name:", hostname_box, tls)

        def registry() -> bool:
            return bool(self.registry_url_edit.text().strip())

        def registry_user() -> bool:
            return registry() and bool(self.registry_username_edit.text().strip())

        self._add_row(kafka, "Schema Registry:", self.registry_url_edit)
        self._add_row(kafka, "Registry user name:", self.registry_username_edit, registry)
        self._add_row(kafka, "Registry password:", self.registry_secret, registry_user)

    def _rabbitmq_rows(self) -> None:
        rabbitmq = BrokerKind.RABBITMQ
        self.host_edit = QLineEdit("127.0.0.1", self)
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(_AMQP_PORT)
        self.vhost_edit = QLineEdit("/", self)
        self.username_edit = QLineEdit("guest", self)
        self.management_edit = QLineEdit(self)
        self.management_edit.setPlaceholderText("http://host:15672 (for depths and DLQ detection)")
        self.password_secret = SecretSourceWidget(
            "password",
            secrets=self._secrets,
            env_placeholder="RABBITMQ_PASSWORD",
            mnemonics=True,
            parent=self,
        )
        # The names the rest of the app and its tests know the password widgets by.
        self.keyring_password = self.password_secret.keyring_radio
        self.password_edit = self.password_secret.secret_edit
        self.keyring_label = self.password_secret.keyring_label
        self.ask_password = self.password_secret.ask_radio
        self.env_password = self.password_secret.env_radio
        self.password_env_edit = self.password_secret.env_edit
        self.rabbitmq_tls_check = QCheckBox("Use TLS (amqps)", self)
        self.rabbitmq_tls_check.toggled.connect(self._on_rabbitmq_tls_check_toggled)
        self.rabbitmq_cafile_edit, cafile_row = self._file_row(
            "CA certificate (PEM); system CAs if empty"
        )
        self.management_username_edit = QLineEdit(self)
        self.management_username_edit.setPlaceholderText("empty: the user above")
        self.management_secret = SecretSourceWidget(
            "management password",
            secrets=self._secrets,
            env_placeholder="RABBITMQ_MANAGEMENT_PASSWORD",
            parent=self,
        )

        def own_management_user() -> bool:
            return bool(self.management_username_edit.text().strip())

        self._add_row(rabbitmq, "Host:", self.host_edit)
        self._add_row(rabbitmq, "Port:", self.port_spin)
        self._add_row(rabbitmq, "Virtual host:", self.vhost_edit)
        self._add_row(rabbitmq, "User name:", self.username_edit)
        self._add_row(rabbitmq, "Management URL:", self.management_edit)
        self._add_row(rabbitmq, "Password:", self.password_secret)
        self._add_row(rabbitmq, "Transport:", self.rabbitmq_tls_check)
        self._add_row(rabbitmq, "CA file:", cafile_row, self.rabbitmq_tls_check.isChecked)
        self._add_row(rabbitmq, "Management user:", self.management_username_edit)
        self._add_row(rabbitmq, "Management password:", self.management_secret, own_management_user)

    def _sqs_rows(self) -> None:
        sqs = BrokerKind.SQS
        self.region_edit = QLineEdit("us-east-1", self)
        self.endpoint_edit = QLineEdit(self)
        self.endpoint_edit.setPlaceholderText(
            "leave empty for AWS; http://host:4566 for LocalStack"
        )
        self.aws_credentials_combo = QComboBox(self)
        for title, source in _AWS_CREDENTIALS:
            self.aws_credentials_combo.addItem(title, source)
        self.aws_profile_edit = QLineEdit(self)
        self.aws_profile_edit.setPlaceholderText("a profile in ~/.aws/config")
        self.access_key_edit = QLineEdit(self)
        self.access_key_edit.setPlaceholderText("AKIA…")
        self.aws_secret = SecretSourceWidget(
            "secret access key",
            secrets=self._secrets,
            env_placeholder="AWS_SECRET_ACCESS_KEY",
            parent=self,
        )
        self.role_arn_edit = QLineEdit(self)
        self.role_arn_edit.setPlaceholderText("arn:aws:iam::123456789012:role/… (optional)")
        self.browse_hold_spin = QSpinBox(self)
        self.browse_hold_spin.setRange(3, 43_200)
        self.browse_hold_spin.setValue(BROWSE_HOLD_SECONDS)
        self.browse_hold_spin.setSuffix(" s")
        self.browse_hold_spin.setToolTip(
            "Browsing SQS hides the messages it shows. Eventdesk releases them when you leave "
            "the queue; if it is killed first, they reappear after this long."
        )

        def source_is(source: str) -> Callable[[], bool]:
            return lambda: self.aws_credentials_combo.currentData() == source

        self._add_row(sqs, "Region:", self.region_edit)
        self._add_row(sqs, "Endpoint URL:", self.endpoint_edit)
        self._add_row(sqs, "Credentials:", self.aws_credentials_combo)
        self._add_row(sqs, "AWS profile:", self.aws_profile_edit, source_is("profile"))
        self._add_row(sqs, "Access key ID:", self.access_key_edit, source_is("keys"))
        self._add_row(sqs, "Secret access key:", self.aws_secret, source_is("keys"))
        self._add_row(sqs, "Role to assume:", self.role_arn_edit)
        self._add_row(sqs, "Hold browsed messages:", self.browse_hold_spin)

    def _nats_rows(self) -> None:
        self.nats_servers_edit = QLineEdit(self)
        self.nats_servers_edit.setPlaceholderText("nats://host:4222")
        self.nats_servers_edit.setToolTip("Comma-separated nats:// URLs of any servers")
        self.nats_auth_combo = QComboBox(self)
        for title, method in _NATS_AUTH:
            self.nats_auth_combo.addItem(title, method)
        self.nats_user_edit = QLineEdit(self)
        self.nats_password_secret = SecretSourceWidget(
            "password", secrets=self._secrets, env_placeholder="NATS_PASSWORD", parent=self
        )
        self.nats_token_secret = SecretSourceWidget(
            "token", secrets=self._secrets, env_placeholder="NATS_TOKEN", parent=self
        )
        self.nats_creds_edit = QLineEdit(self)
        self.nats_creds_edit.setPlaceholderText("/path/to/user.creds")
        self.nats_creds_edit.setToolTip(
            "A .creds file (JWT and seed) made by nsc; Eventdesk stores only its path"
        )
        self.nkey_edit = QLineEdit(self)
        self.nkey_edit.setPlaceholderText("U… (the user's public key)")
        self.nkey_seed_secret = SecretSourceWidget(
            "NKey seed", secrets=self._secrets, env_placeholder="NATS_NKEY_SEED", parent=self
        )

        def method_is(method: str) -> Callable[[], bool]:
            return lambda: self.nats_auth_combo.currentData() == method

        nkey = method_is("nkey")
        self._add_row(BrokerKind.NATS, "Servers:", self.nats_servers_edit)
        self._add_row(BrokerKind.NATS, "Authentication:", self.nats_auth_combo)
        self._add_row(BrokerKind.NATS, "User:", self.nats_user_edit, method_is("user"))
        self._add_row(BrokerKind.NATS, "Password:", self.nats_password_secret, method_is("user"))
        self._add_row(BrokerKind.NATS, "Token:", self.nats_token_secret, method_is("token"))
        creds = method_is("creds")
        self._add_row(BrokerKind.NATS, "Credentials file:", self.nats_creds_edit, creds)
        self._add_row(BrokerKind.NATS, "NKey public key:", self.nkey_edit, nkey)
        self._add_row(BrokerKind.NATS, "NKey seed:", self.nkey_seed_secret, nkey)

    # -- result -----------------------------------------------------------------------

    @property
    def environment(self) -> str:
        return str(self.environment_combo.currentData() or "")

    @property
    def kind(self) -> BrokerKind:
        # Qt hands str subclasses back as plain str.
        return BrokerKind(self.kind_combo.currentData())

    @property
    def password_persisted(self) -> bool | None:
        """Whether the typed RabbitMQ password went to the keyring (None: none stored)."""
        return self.password_secret.persisted

    def _secret_widgets(self) -> list[SecretSourceWidget]:
        return [
            self.sasl_secret,
            self.password_secret,
            self.management_secret,
            self.aws_secret,
            self.nats_password_secret,
            self.nats_token_secret,
            self.nkey_seed_secret,
            self.registry_secret,
        ]

    def _secrets_in_use(self) -> list[SecretSourceWidget]:
        """The secret widgets whose rows the current choices show."""
        return [w for w in self._secret_widgets() if self._row_shown(w)]

    def _row_shown(self, field: QWidget) -> bool:
        return any(
            f is field and kind is self.kind and shown() for kind, f, shown in self._kind_rows
        )

    def problem(self) -> str | None:
        """What stops the profile from being valid, in words for the operator."""
        name = self.name_edit.text().strip()
        if not name:
            return "Give the connection a name."
        if name.casefold() in self._existing:
            return f"A connection named {name!r} already exists."
        return self._settings_problem()

    def _settings_problem(self) -> str | None:
        problem = {
            BrokerKind.KAFKA: self._kafka_problem,
            BrokerKind.RABBITMQ: self._rabbitmq_problem,
            BrokerKind.SQS: self._sqs_problem,
            BrokerKind.NATS: self._nats_problem,
        }[self.kind]()
        if problem is not None:
            return problem
        return next((p for w in self._secrets_in_use() if (p := w.problem())), None)

    def _kafka_problem(self) -> str | None:
        servers = [s.strip() for s in self.bootstrap_edit.text().split(",") if s.strip()]
        if not servers:
            return "Enter at least one bootstrap server as host:port."
        bad = [s for s in servers if not _HOST_PORT.match(s)]
        if bad:
            return f"Not host:port: {bad[0]}"
        if self.kafka_auth_combo.currentData() and not self.sasl_username_edit.text().strip():
            return "Enter the SASL user name."
        registry = self.registry_url_edit.text().strip()
        if registry and not _is_url(registry):
            return "The Schema Registry URL must start with http:// or https://."
        if not self.kafka_tls_check.isChecked():
            return None
        if self.kafka_keyfile_edit.text().strip() and not self.kafka_certfile_edit.text().strip():
            return "A client key needs the client certificate that goes with it."
        return (
            _missing_file(self.kafka_cafile_edit, "CA file")
            or _missing_file(self.kafka_certfile_edit, "client certificate")
            or _missing_file(self.kafka_keyfile_edit, "client key")
        )

    def _rabbitmq_problem(self) -> str | None:
        if not self.host_edit.text().strip():
            return "Enter the RabbitMQ host."
        if not self.username_edit.text().strip():
            return "Enter the user name."
        url = self.management_edit.text().strip()
        if url and not _is_url(url):
            return "The management URL must start with http:// or https://."
        if self.rabbitmq_tls_check.isChecked():
            return _missing_file(self.rabbitmq_cafile_edit, "CA file")
        return None

    def _sqs_problem(self) -> str | None:
        if not self.region_edit.text().strip():
            return "Enter the AWS region, e.g. us-east-1."
        url = self.endpoint_edit.text().strip()
        if url and not _is_url(url):
            return "The endpoint URL must start with http:// or https://."
        source = self.aws_credentials_combo.currentData()
        if source == "profile" and not self.aws_profile_edit.text().strip():
            return "Name the AWS profile, as in ~/.aws/config."
        if source == "keys" and not self.access_key_edit.text().strip():
            return "Enter the access key ID."
        role = self.role_arn_edit.text().strip()
        if role and not role.startswith("arn:"):
            return "The role to assume is an ARN: arn:aws:iam::<account>:role/<name>."
        return None

    def _nats_problem(self) -> str | None:
        if not self.nats_servers_edit.text().strip():
            return "Enter at least one server, e.g. nats://127.0.0.1:4222."
        method = self.nats_auth_combo.currentData()
        if method == "user" and not self.nats_user_edit.text().strip():
            return "Enter the user name."
        if method == "creds":
            if not self.nats_creds_edit.text().strip():
                return "Enter the path of the .creds file."
            return _missing_file(self.nats_creds_edit, "credentials file")
        if self.nats_auth_combo.currentData() == "nkey" and not _NKEY_USER.match(
            self.nkey_edit.text().strip()
        ):
            return "Enter the NKey user's public key: U and 55 more capital letters or digits."
        return None

    def profile(self) -> ConnectionProfile:
        problem = self.problem()
        if problem is not None:
            raise ConfigurationError(problem)
        return self._profile_named(self.name_edit.text().strip())

    def _profile_named(self, name: str) -> ConnectionProfile:
        return ConnectionProfile(
            name,
            self.kind,
            self._settings(),
            environment=self.environment,
            read_only=self.read_only_check.isChecked(),
        )

    def _settings(self) -> dict[str, str]:
        settings = {
            BrokerKind.KAFKA: self._kafka_settings,
            BrokerKind.RABBITMQ: self._rabbitmq_settings,
            BrokerKind.SQS: self._sqs_settings,
            BrokerKind.NATS: self._nats_settings,
        }[self.kind]()
        return {key: value for key, value in settings.items() if value}

    def _kafka_settings(self) -> dict[str, str]:
        servers = [s.strip() for s in self.bootstrap_edit.text().split(",") if s.strip()]
        mechanism = str(self.kafka_auth_combo.currentData() or "")
        tls = self.kafka_tls_check.isChecked()
        protocol = ("SASL_" if mechanism else "") + ("SSL" if tls else "PLAINTEXT")
        settings = {"bootstrap_servers": ",".join(servers)}
        if protocol != "PLAINTEXT":
            settings["security_protocol"] = protocol
        if mechanism:
            settings["sasl_mechanism"] = mechanism
            settings["sasl_username"] = self.sasl_username_edit.text().strip()
            settings["sasl_password_env"] = self._env_name(self.sasl_secret)
        if tls:
            settings["ssl_cafile"] = self.kafka_cafile_edit.text().strip()
            settings["ssl_certfile"] = self.kafka_certfile_edit.text().strip()
            settings["ssl_keyfile"] = self.kafka_keyfile_edit.text().strip()
            if not self.verify_hostname_check.isChecked():
                settings["ssl_check_hostname"] = "false"
        registry = self.registry_url_edit.text().strip()
        if registry:
            settings["schema_registry_url"] = registry
            username = self.registry_username_edit.text().strip()
            if username:
                settings["schema_registry_username"] = username
                settings["schema_registry_password_env"] = self._env_name(self.registry_secret)
        return settings

    def _rabbitmq_settings(self) -> dict[str, str]:
        settings = {
            "host": self.host_edit.text().strip(),
            "port": str(self.port_spin.value()),
            "vhost": self.vhost_edit.text() or "/",
            "username": self.username_edit.text().strip(),
            "management_url": self.management_edit.text().strip(),
            "password_env": self._env_name(self.password_secret),
        }
        if self.rabbitmq_tls_check.isChecked():
            settings["tls"] = "true"
            settings["ssl_cafile"] = self.rabbitmq_cafile_edit.text().strip()
        management_user = self.management_username_edit.text().strip()
        if management_user:
            settings["management_username"] = management_user
            settings["management_password_env"] = self._env_name(self.management_secret)
        return settings

    def _sqs_settings(self) -> dict[str, str]:
        settings = {
            "region": self.region_edit.text().strip(),
            "endpoint_url": self.endpoint_edit.text().strip(),
            "role_arn": self.role_arn_edit.text().strip(),
        }
        if self.browse_hold_spin.value() != BROWSE_HOLD_SECONDS:
            settings["browse_hold_seconds"] = str(self.browse_hold_spin.value())
        source = self.aws_credentials_combo.currentData()
        if source == "profile":
            settings["aws_profile"] = self.aws_profile_edit.text().strip()
        if source == "keys":
            settings["access_key_id"] = self.access_key_edit.text().strip()
            settings["secret_access_key_env"] = self._env_name(self.aws_secret)
        return settings

    def _nats_settings(self) -> dict[str, str]:
        settings = {"servers": self.nats_servers_edit.text().strip()}
        method = self.nats_auth_combo.currentData()
        if method == "user":
            settings["username"] = self.nats_user_edit.text().strip()
            settings["password_env"] = self._env_name(self.nats_password_secret)
        if method == "token":
            settings["auth"] = "token"
            settings["token_env"] = self._env_name(self.nats_token_secret)
        if method == "creds":
            settings["creds_file"] = self.nats_creds_edit.text().strip()
        if method == "nkey":
            settings["nkey"] = self.nkey_edit.text().strip()
            settings["nkey_seed_env"] = self._env_name(self.nkey_seed_secret)
        return settings

    @staticmethod
    def _env_name(widget: SecretSourceWidget) -> str:
        return widget.env_name if widget.mode == ENVIRONMENT else ""

    # -- test connection --------------------------------------------------------------

    def _on_test_button_clicked(self) -> None:
        self.test_connection()

    def test_connection(self) -> bool:
        """Starts the step-by-step test of the settings as they are; False if it cannot."""
        problem = self._settings_problem()
        if problem is not None:
            self.problem_label.setText(problem)
            return False
        secrets = self._secrets_for_test()
        if secrets is None:
            return False
        profile = self._profile_named(self.name_edit.text().strip() or "New connection")
        self.test_panel.start(planned_steps(profile))
        self.test_button.setEnabled(False)
        self.adjustSize()

        async def run() -> list[StepResult]:
            return await diagnose(
                profile,
                prompt=lambda _profile, field: secrets.get(field),
                timeout=TEST_STEP_TIMEOUT_S,
                on_step=self.test_panel.show_result,
            )

        AsyncOp(self, run).latest_wins("test").success(
            lambda _results: self.test_panel.finish()
        ).failure(lambda exc: self.test_panel.finish(error=str(exc))).finally_(
            self._on_test_ended
        ).run()
        return True

    def _secrets_for_test(self) -> dict[str, str] | None:
        """Secrets by field for a test: typed here, stored, or asked now (None: not given).

        Asked here, before the test starts: a prompt must not open inside a running task.
        """
        values: dict[str, str] = {}
        for widget in self._secrets_in_use():
            if widget.mode == KEYRING:
                value = widget.typed()
                if value is None and self._secrets is not None:
                    value = self._secrets.get(self.name_edit.text().strip(), widget.field)
            elif widget.mode == ASK:
                value = self.ask_test_secret(widget.field)
                if value is None:
                    return None
            else:
                continue  # the factory reads the variable itself
            if value is not None:
                values[widget.field] = value
        return values

    def ask_test_secret(self, field: str) -> str | None:
        """The secret for one test, kept for that test only."""
        value, ok = QInputDialog.getText(
            self,
            "Test connection",
            f"{field[:1].upper()}{field[1:]} for this test (not stored):",
            QLineEdit.EchoMode.Password,
        )
        return value if ok else None

    def cancel_test(self) -> None:
        task = self.cancel_task("test")
        if task is not None:
            self.test_panel.finish(cancelled=True)

    def _on_test_ended(self) -> None:
        self.test_button.setEnabled(True)
        if self.test_panel.running:  # ended without success or failure: cancelled
            self.test_panel.finish(cancelled=True)

    # -- handlers ---------------------------------------------------------------------

    def _on_kind_combo_changed(self, _index: int) -> None:
        self._show_rows_of(self.kind)
        self._validate()

    def _on_layout_choice_changed(self, *_args: object) -> None:
        self._show_rows_of(self.kind)
        self._validate()

    def _on_rabbitmq_tls_check_toggled(self, on: bool) -> None:
        # Follow the standard port unless the operator chose another one.
        if self.port_spin.value() == (_AMQP_PORT if on else _AMQPS_PORT):
            self.port_spin.setValue(_AMQPS_PORT if on else _AMQP_PORT)

    def _validate(self, *_args: object) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def accept(self) -> None:
        # Enter in a field triggers accept even while the button is disabled.
        if self.problem() is not None:
            return
        self.cancel_tasks()
        name = self.name_edit.text().strip()
        for widget in self._secrets_in_use():
            widget.store(name)
        super().accept()

    def reject(self) -> None:
        # Escape while a test runs stops the test, not the dialog.
        if self.test_panel.running:
            self.cancel_test()
            return
        self.cancel_tasks()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel_tasks()
        super().closeEvent(event)
