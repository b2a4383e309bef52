"""The dialog's "Test connection": a checklist filled in step by step from the real brokers,
with progress, a cancel button, and what to do when a step fails."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from eventdesk.connectors.diagnosis import (
    STEP_AUTHENTICATION,
    STEP_AUTHORIZATION,
    STEP_DNS,
    STEP_MANAGEMENT,
    STEP_SETTINGS,
    STEP_TCP,
    STEP_TLS,
)
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.secrets import SecretStore
from eventdesk.gui.connection_dialog import ConnectionDialog
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from tests.conftest import KafkaSecureSettings, RabbitMQSettings

from .conftest import LoopDriver
from .fakes import DictKeyring


@pytest.fixture
def dialog(qtbot, driver: LoopDriver) -> Iterator[ConnectionDialog]:
    widget = ConnectionDialog([], secrets=SecretStore(DictKeyring()))
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.cancel_tasks()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (the kernel's backlog)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def _wait_for_the_test(driver: LoopDriver, dialog: ConnectionDialog) -> None:
    driver.until(lambda: not dialog.test_panel.running, timeout=60, message="the test to end")


def _all_text(dialog: ConnectionDialog) -> str:
    return "\n".join(label.text() for label in dialog.findChildren(QLabel))


def _fill_secured_kafka(dialog: ConnectionDialog, kafka_secure: KafkaSecureSettings) -> None:
    dialog.name_edit.setText("Secured Kafka")
    dialog.bootstrap_edit.setText(f"127.0.0.1:{kafka_secure.sasl_port}")
    dialog.kafka_auth_combo.setCurrentIndex(dialog.kafka_auth_combo.findData("SCRAM-SHA-512"))
    dialog.sasl_username_edit.setText(kafka_secure.username)
    dialog.sasl_secret.keyring_radio.setChecked(True)


def test_a_wrong_sasl_password_is_shown_failing_at_authentication(
    dialog: ConnectionDialog, driver: LoopDriver, kafka_secure: KafkaSecureSettings, qtbot
) -> None:
    _fill_secured_kafka(dialog, kafka_secure)
    qtbot.keyClicks(dialog.sasl_secret.secret_edit, "wrong-sasl-pw-8080")

    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert dialog.test_panel.running
    assert not dialog.test_button.isEnabled()
    _wait_for_the_test(driver, dialog)

    panel = dialog.test_panel
    assert [(r.name, r.ok) for r in panel.results()] == [
        (STEP_SETTINGS, True),
        (STEP_DNS, True),
        (STEP_TCP, True),
        (STEP_AUTHENTICATION, False),
    ]
    mark, detail, hint = panel.row_texts(STEP_AUTHENTICATION)
    assert mark == "✘"
    assert f"SASL authentication failed for user {kafka_secure.username!r}" in detail
    assert hint.startswith("What to do: Check the user name and password")
    assert panel.row_texts(STEP_AUTHORIZATION)[:2] == ("–", "Not run.")
    assert panel.summary_label.text() == "Failed at authentication; see below."
    assert not panel.progress_bar.isVisible() and not panel.cancel_button.isVisible()
    assert dialog.test_button.isEnabled()
    assert "wrong-sasl-pw-8080" not in _all_text(dialog)
    # The test stores nothing; the password is still only in its field.
    assert dialog.sasl_secret.persisted is None


def test_the_right_password_passes_every_step_in_the_checklist(
    dialog: ConnectionDialog, driver: LoopDriver, kafka_secure: KafkaSecureSettings, qtbot
) -> None:
    _fill_secured_kafka(dialog, kafka_secure)
    qtbot.keyClicks(dialog.sasl_secret.secret_edit, kafka_secure.passwords["SCRAM-SHA-512"])

    assert dialog.test_connection()
    _wait_for_the_test(driver, dialog)

    assert [r.ok for r in dialog.test_panel.results()] == [True] * 5
    assert all(
        dialog.test_panel.row_texts(name)[0] == "✔" for name in (STEP_TCP, STEP_AUTHORIZATION)
    )
    assert dialog.test_panel.summary_label.text().startswith("Every check passed")


def test_an_unknown_ca_is_shown_at_the_tls_step(
    dialog: ConnectionDialog, driver: LoopDriver, kafka_secure: KafkaSecureSettings
) -> None:
    dialog.name_edit.setText("TLS Kafka")
    dialog.bootstrap_edit.setText(f"127.0.0.1:{kafka_secure.ssl_port}")
    dialog.kafka_tls_check.setChecked(True)
    dialog.kafka_cafile_edit.setText(str(kafka_secure.tls_dir / "other-ca.pem"))

    assert dialog.test_connection()
    _wait_for_the_test(driver, dialog)

    assert [r.name for r in dialog.test_panel.results()][-1] == STEP_TLS
    mark, detail, hint = dialog.test_panel.row_texts(STEP_TLS)
    assert (mark, detail.split(":")[0]) == ("✘", "Unknown CA")
    assert "CA file" in hint


def test_rabbitmq_asked_for_the_password_for_this_test_only(
    dialog: ConnectionDialog,
    driver: LoopDriver,
    rabbitmq: RabbitMQSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialog.name_edit.setText("Rabbit")
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(BrokerKind.RABBITMQ))
    dialog.host_edit.setText(rabbitmq.host)
    dialog.port_spin.setValue(rabbitmq.port)
    dialog.username_edit.setText(rabbitmq.username)
    dialog.management_edit.setText(rabbitmq.management_url)
    assert dialog.ask_password.isChecked()
    asked: list[str] = []
    monkeypatch.setattr(dialog, "ask_test_secret", lambda field: asked.append(field) or "wrong")

    assert dialog.test_connection()
    _wait_for_the_test(driver, dialog)
    assert asked == ["password"]
    assert dialog.test_panel.results()[-1].name == STEP_AUTHENTICATION

    monkeypatch.setattr(dialog, "ask_test_secret", lambda field: rabbitmq.password)
    assert dialog.test_connection()
    _wait_for_the_test(driver, dialog)
    results = dialog.test_panel.results()
    assert [r.name for r in results][-2:] == [STEP_MANAGEMENT, STEP_AUTHORIZATION]
    assert all(r.ok for r in results)

    # Cancelling the question starts no test.
    monkeypatch.setattr(dialog, "ask_test_secret", lambda field: None)
    assert not dialog.test_connection()


def test_cancel_stops_a_hanging_step_and_leaves_the_dialog_usable(
    dialog: ConnectionDialog, driver: LoopDriver, silent_port: int, qtbot
) -> None:
    dialog.name_edit.setText("Silent")
    dialog.bootstrap_edit.setText(f"127.0.0.1:{silent_port}")
    dialog.kafka_tls_check.setChecked(True)  # the TLS handshake waits for an answer

    assert dialog.test_connection()
    driver.until(lambda: dialog.test_panel.row_texts(STEP_TLS)[0] == "…", message="TLS running")
    assert dialog.test_panel.progress_bar.value() == 3
    qtbot.mouseClick(dialog.test_panel.cancel_button, Qt.MouseButton.LeftButton)

    assert not dialog.test_panel.running
    assert dialog.test_panel.row_texts(STEP_TLS)[:2] == ("–", "Cancelled.")
    assert dialog.test_panel.summary_label.text() == "Test cancelled."
    driver.until(lambda: dialog.test_button.isEnabled(), message="the test task to unwind")
    assert not dialog.owned_tasks() or all(t.done() for t in dialog.owned_tasks())
    assert dialog.isVisible()


def test_escape_during_a_test_cancels_the_test_not_the_dialog(
    dialog: ConnectionDialog, driver: LoopDriver, silent_port: int, qtbot
) -> None:
    dialog.name_edit.setText("Silent")
    dialog.bootstrap_edit.setText(f"127.0.0.1:{silent_port}")
    dialog.kafka_tls_check.setChecked(True)
    assert dialog.test_connection()
    driver.until(lambda: dialog.test_panel.row_texts(STEP_TLS)[0] == "…", message="TLS running")

    qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    assert dialog.isVisible()
    assert dialog.test_panel.summary_label.text() == "Test cancelled."
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_settings_that_cannot_work_start_no_test(dialog: ConnectionDialog) -> None:
    dialog.bootstrap_edit.setText("no-port")
    assert not dialog.test_connection()
    assert dialog.problem_label.text() == "Not host:port: no-port"
    assert not dialog.test_panel.isVisible()
