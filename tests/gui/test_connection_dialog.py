"""ConnectionDialog: per-kind fields, validation, and a profile without secrets."""

from __future__ import annotations

import pytest
from eventdesk.connectors.model import BrokerKind
from eventdesk.gui.connection_dialog import ConnectionDialog
from PySide6.QtWidgets import QDialogButtonBox


@pytest.fixture
def dialog(qtbot) -> ConnectionDialog:
    widget = ConnectionDialog(existing_names=["Prod Kafka"])
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _ok(dialog: ConnectionDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_kafka_needs_host_port_pairs(dialog: ConnectionDialog):
    dialog.name_edit.setText("Local Kafka")
    assert not _ok(dialog)
    dialog.bootstrap_edit.setText("localhost")
    assert dialog.problem_label.text() == "Not host:port: localhost"

    dialog.bootstrap_edit.setText("127.0.0.1:19092, kafka-2:9092")

    assert _ok(dialog)
    profile = dialog.profile()
    assert profile.kind is BrokerKind.KAFKA
    assert profile.settings == {"bootstrap_servers": "127.0.0.1:19092,kafka-2:9092"}


def test_names_must_be_unique(dialog: ConnectionDialog):
    dialog.name_edit.setText("prod kafka")
    assert dialog.problem_label.text() == "A connection named 'prod kafka' already exists."


def test_rabbitmq_password_from_environment_or_asked(dialog: ConnectionDialog):
    dialog.name_edit.setText("Rabbit")
    dialog.kind_combo.setCurrentIndex(1)
    dialog.management_edit.setText("http://127.0.0.1:15672")

    assert dialog.row_visible(dialog.host_edit)
    assert not dialog.row_visible(dialog.bootstrap_edit)
    assert _ok(dialog)
    asked = dialog.profile()
    assert "password_env" not in asked.settings
    assert asked.settings["port"] == "5672"

    dialog.env_password.setChecked(True)
    assert not _ok(dialog)
    dialog.password_env_edit.setText("RABBIT_PASSWORD")
    assert _ok(dialog)
    assert dialog.profile().settings["password_env"] == "RABBIT_PASSWORD"


def test_sqs_endpoint_url_must_be_a_url(dialog: ConnectionDialog):
    dialog.name_edit.setText("moto")
    dialog.kind_combo.setCurrentIndex(2)
    dialog.endpoint_edit.setText("127.0.0.1:5055")
    assert not _ok(dialog)

    dialog.endpoint_edit.setText("http://127.0.0.1:5055")

    assert dialog.profile().settings == {
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:5055",
    }
