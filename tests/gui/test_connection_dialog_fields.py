"""ConnectionDialog's security fields: Kafka SASL/TLS, RabbitMQ amqps and management
account, AWS credentials and role. Each turns into the settings the factory reads, and
typed secrets go to the keyring on accept, never into the profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.secrets import SecretStore
from eventdesk.gui.connection_dialog import ConnectionDialog
from PySide6.QtWidgets import QDialogButtonBox

from .fakes import DictKeyring


@pytest.fixture
def keyring_backend() -> DictKeyring:
    return DictKeyring()


@pytest.fixture
def dialog(qtbot, keyring_backend: DictKeyring) -> ConnectionDialog:
    widget = ConnectionDialog([], secrets=SecretStore(keyring_backend))
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _ok(dialog: ConnectionDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def _choose(combo, data: str) -> None:
    combo.setCurrentIndex(combo.findData(data))


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, str]:
    files = {}
    for name in ("ca", "client", "client-key"):
        path = tmp_path / f"{name}.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\n")
        files[name] = str(path)
    return files


def test_kafka_sasl_scram_with_the_password_in_the_keyring(
    dialog: ConnectionDialog, keyring_backend: DictKeyring, qtbot
) -> None:
    dialog.name_edit.setText("Secured Kafka")
    dialog.bootstrap_edit.setText("kafka-1:9093")
    assert not dialog.row_visible(dialog.sasl_username_edit)

    _choose(dialog.kafka_auth_combo, "SCRAM-SHA-512")
    assert dialog.row_visible(dialog.sasl_username_edit)
    assert dialog.row_visible(dialog.sasl_secret)
    assert dialog.problem_label.text() == "Enter the SASL user name."
    dialog.sasl_username_edit.setText("ops")
    dialog.sasl_secret.keyring_radio.setChecked(True)
    assert dialog.problem_label.text() == "Enter the SASL password to keep in the OS keyring."
    qtbot.keyClicks(dialog.sasl_secret.secret_edit, "sasl-pw-3141")

    assert _ok(dialog)
    dialog.accept()
    assert dialog.profile().settings == {
        "bootstrap_servers": "kafka-1:9093",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "ops",
    }
    assert keyring_backend.entries == {("eventdesk", "Secured Kafka/SASL password"): "sasl-pw-3141"}
    assert dialog.sasl_secret.secret_edit.text() == ""


def test_kafka_schema_registry_with_its_password_in_the_keyring(
    dialog: ConnectionDialog, keyring_backend: DictKeyring, qtbot
) -> None:
    dialog.name_edit.setText("Kafka with registry")
    dialog.bootstrap_edit.setText("kafka-1:9092")
    assert dialog.row_visible(dialog.registry_url_edit)
    assert not dialog.row_visible(dialog.registry_username_edit)
    dialog.registry_url_edit.setText("registry:8081")
    assert dialog.problem_label.text().startswith("The Schema Registry URL must start with")
    dialog.registry_url_edit.setText("https://registry.example:8081")
    assert dialog.row_visible(dialog.registry_username_edit)
    assert not dialog.row_visible(dialog.registry_secret)
    dialog.registry_username_edit.setText("svc-eventdesk")
    assert dialog.row_visible(dialog.registry_secret)
    dialog.registry_secret.keyring_radio.setChecked(True)
    qtbot.keyClicks(dialog.registry_secret.secret_edit, "registry-pw-2718")

    assert _ok(dialog)
    dialog.accept()
    assert dialog.profile().settings == {
        "bootstrap_servers": "kafka-1:9092",
        "schema_registry_url": "https://registry.example:8081",
        "schema_registry_username": "svc-eventdesk",
    }
    assert keyring_backend.entries == {
        ("eventdesk", "Kafka with registry/schema registry password"): "registry-pw-2718"
    }


def test_kafka_tls_files_and_the_unsafe_hostname_switch(
    dialog: ConnectionDialog, pem_files: dict[str, str]
) -> None:
    dialog.name_edit.setText("TLS Kafka")
    dialog.bootstrap_edit.setText("kafka-1:9094")
    assert not dialog.row_visible(dialog.kafka_cafile_edit)
    dialog.kafka_tls_check.setChecked(True)
    assert dialog.row_visible(dialog.kafka_cafile_edit)
    assert dialog.verify_hostname_check.isChecked(), "on by default"
    assert not dialog.unsafe_label.isVisible()

    dialog.kafka_cafile_edit.setText("/no/such/ca.pem")
    assert dialog.problem_label.text() == "The CA file /no/such/ca.pem does not exist."
    dialog.kafka_cafile_edit.setText(pem_files["ca"])
    dialog.kafka_keyfile_edit.setText(pem_files["client-key"])
    assert "needs the client certificate" in dialog.problem_label.text()
    dialog.kafka_certfile_edit.setText(pem_files["client"])

    dialog.verify_hostname_check.setChecked(False)
    assert dialog.unsafe_label.isVisible()
    assert dialog.unsafe_label.text().startswith("Unsafe:")
    assert _ok(dialog)
    assert dialog.profile().settings == {
        "bootstrap_servers": "kafka-1:9094",
        "security_protocol": "SSL",
        "ssl_cafile": pem_files["ca"],
        "ssl_certfile": pem_files["client"],
        "ssl_keyfile": pem_files["client-key"],
        "ssl_check_hostname": "false",
    }
    # SASL on top of TLS is SASL_SSL, with the password from a variable.
    _choose(dialog.kafka_auth_combo, "PLAIN")
    dialog.sasl_username_edit.setText("ops")
    dialog.sasl_secret.env_radio.setChecked(True)
    dialog.sasl_secret.env_edit.setText("KAFKA_PW")
    settings = dialog.profile().settings
    assert settings["security_protocol"] == "SASL_SSL"
    assert settings["sasl_password_env"] == "KAFKA_PW"


def test_rabbitmq_amqps_and_a_separate_management_account(
    dialog: ConnectionDialog, keyring_backend: DictKeyring, pem_files: dict[str, str], qtbot
) -> None:
    dialog.name_edit.setText("Rabbit TLS")
    _choose(dialog.kind_combo, BrokerKind.RABBITMQ)
    assert not dialog.row_visible(dialog.rabbitmq_cafile_edit)
    dialog.rabbitmq_tls_check.setChecked(True)
    assert dialog.port_spin.value() == 5671
    assert dialog.row_visible(dialog.rabbitmq_cafile_edit)
    dialog.rabbitmq_cafile_edit.setText(pem_files["ca"])
    dialog.vhost_edit.setText("orders")
    dialog.env_password.setChecked(True)
    dialog.password_env_edit.setText("RABBIT_PW")

    assert not dialog.row_visible(dialog.management_secret)
    dialog.management_username_edit.setText("monitor")
    assert dialog.row_visible(dialog.management_secret)
    dialog.management_secret.keyring_radio.setChecked(True)
    assert not _ok(dialog)
    qtbot.keyClicks(dialog.management_secret.secret_edit, "mgmt-pw-2718")
    dialog.management_edit.setText("https://mq:15671")
    assert _ok(dialog)

    dialog.accept()
    assert dialog.profile().settings == {
        "host": "127.0.0.1",
        "port": "5671",
        "vhost": "orders",
        "username": "guest",
        "management_url": "https://mq:15671",
        "password_env": "RABBIT_PW",
        "tls": "true",
        "ssl_cafile": pem_files["ca"],
        "management_username": "monitor",
    }
    assert keyring_backend.entries == {
        ("eventdesk", "Rabbit TLS/management password"): "mgmt-pw-2718"
    }

    dialog.rabbitmq_tls_check.setChecked(False)
    assert dialog.port_spin.value() == 5672


def test_aws_static_keys_profile_and_role(
    dialog: ConnectionDialog, keyring_backend: DictKeyring, qtbot
) -> None:
    dialog.name_edit.setText("AWS prod")
    _choose(dialog.kind_combo, BrokerKind.SQS)
    assert not dialog.row_visible(dialog.aws_profile_edit)
    assert not dialog.row_visible(dialog.access_key_edit)
    assert dialog.profile().settings == {"region": "us-east-1"}

    _choose(dialog.aws_credentials_combo, "profile")
    assert dialog.problem_label.text() == "Name the AWS profile, as in ~/.aws/config."
    dialog.aws_profile_edit.setText("ops")
    assert dialog.profile().settings == {"region": "us-east-1", "aws_profile": "ops"}

    _choose(dialog.aws_credentials_combo, "keys")
    assert not dialog.row_visible(dialog.aws_profile_edit)
    dialog.access_key_edit.setText("AKIAEVENTDESKTEST")
    dialog.aws_secret.keyring_radio.setChecked(True)
    qtbot.keyClicks(dialog.aws_secret.secret_edit, "aws-secret-1618")
    dialog.role_arn_edit.setText("role/ops")
    assert "is an ARN" in dialog.problem_label.text()
    dialog.role_arn_edit.setText("arn:aws:iam::123456789012:role/ops")
    dialog.region_edit.setText("eu-west-1")
    dialog.browse_hold_spin.setValue(60)

    dialog.accept()
    assert dialog.profile().settings == {
        "region": "eu-west-1",
        "access_key_id": "AKIAEVENTDESKTEST",
        "role_arn": "arn:aws:iam::123456789012:role/ops",
        "browse_hold_seconds": "60",
    }
    assert keyring_backend.entries == {
        ("eventdesk", "AWS prod/secret access key"): "aws-secret-1618"
    }


def test_the_security_fields_follow_in_tab_order(dialog: ConnectionDialog) -> None:
    _choose(dialog.kafka_auth_combo, "SCRAM-SHA-256")
    dialog.kafka_tls_check.setChecked(True)
    chain, widget = [], dialog.name_edit.nextInFocusChain()
    while widget is not dialog.name_edit and len(chain) < 300:
        chain.append(widget)
        widget = widget.nextInFocusChain()
    order = [
        dialog.bootstrap_edit,
        dialog.kafka_auth_combo,
        dialog.sasl_username_edit,
        dialog.sasl_secret.keyring_radio,
        dialog.sasl_secret.secret_edit,
        dialog.kafka_tls_check,
        dialog.kafka_cafile_edit,
        dialog.kafka_certfile_edit,
        dialog.kafka_keyfile_edit,
        dialog.verify_hostname_check,
        dialog.test_button,
    ]
    positions = [chain.index(widget) for widget in order]
    assert positions == sorted(positions)
    assert "&" in dialog.test_button.text()
