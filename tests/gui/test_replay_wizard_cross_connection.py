"""The replay wizard into another connection, across brokers, against the real local brokers.

A RabbitMQ DLQ filled by the broker's own dead-lettering is replayed, through the wizard as
an operator drives it, into a Kafka topic of another connection; then the topic is read
back, the DLQ counted and the journal read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import aio_pika
import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER, REPLAY_ID_HEADER
from eventdesk.connectors.secrets import SecretStore
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.replay_wizard import ReplayWizard
from PySide6.QtWidgets import QWizard

from tests.conftest import RabbitMQSettings
from tests.seed.kafka import create_topic, read_committed
from tests.seed.rabbitmq import dead_letter_by_reject, drain_queue

from .conftest import LoopDriver
from .endpoints import open_loaded
from .fakes import DictKeyring
from .replay_checks import assert_replayed_on_the_broker

pytestmark = [pytest.mark.rabbitmq, pytest.mark.kafka]

COUNT = 6


@pytest.fixture
def rabbitmq_dlq(
    rabbitmq: RabbitMQSettings, driver: LoopDriver, unique_name: str
) -> Iterator[dict[str, str]]:
    """A queue whose consumer rejected COUNT orders into its DLQ; both deleted afterwards."""
    names = {"source": f"{unique_name}.orders", "dlq": f"{unique_name}.orders.dlq"}

    async def channel_do(work) -> None:
        connection = await aio_pika.connect(
            host=rabbitmq.host,
            port=rabbitmq.port,
            login=rabbitmq.username,
            password=rabbitmq.password,
        )
        try:
            await work(await connection.channel())
        finally:
            await connection.close()

    async def fill(channel: aio_pika.abc.AbstractChannel) -> None:
        await dead_letter_by_reject(channel, names["source"], names["dlq"], COUNT)

    async def delete(channel: aio_pika.abc.AbstractChannel) -> None:
        for name in names.values():
            await channel.queue_delete(name)

    driver.run(channel_do(fill), timeout=60)
    yield names
    driver.run(channel_do(delete), timeout=60)


@pytest.fixture
def kafka_target(
    kafka_bootstrap: str, kafka_topics: list[str], driver: LoopDriver, unique_name: str
) -> str:
    topic = f"{unique_name}.replayed"
    driver.run(create_topic(kafka_bootstrap, topic), timeout=60)
    kafka_topics.append(topic)
    return topic


def _open_wizard(driver: LoopDriver, window: MainWindow, dlq: str) -> ReplayWizard:
    open_loaded(driver, window, "RabbitMQ", dlq, COUNT)
    window.browser.select_rows(list(range(COUNT)))
    window.replay_action.trigger()
    wizard = window.replay_wizard
    assert wizard is not None and wizard.isVisible()
    wizard.next()
    assert wizard.currentId() == wizard.TARGET
    return wizard


def test_replay_from_a_rabbitmq_dlq_into_a_kafka_topic_of_another_connection(
    driver: LoopDriver,
    open_window,
    rabbitmq: RabbitMQSettings,
    rabbitmq_profile: ConnectionProfile,
    kafka_profile: ConnectionProfile,
    kafka_bootstrap: str,
    rabbitmq_dlq: dict[str, str],
    kafka_target: str,
):
    watching = ConnectionProfile(
        "Kafka (watch only)", BrokerKind.KAFKA, dict(kafka_profile.settings), read_only=True
    )
    window = open_window(rabbitmq_profile, kafka_profile, watching)
    wizard = _open_wizard(driver, window, rabbitmq_dlq["dlq"])
    chosen = window.selected_messages()
    page = wizard.target_page

    # Only writable other connections are offered; the read-only one is named as missing.
    offered = [page.connection_combo.itemData(i) for i in range(page.connection_combo.count())]
    assert offered == ["Kafka"]
    assert page.connection_note.isVisibleTo(wizard)
    assert "Kafka (watch only)" in page.connection_note.text()
    assert "read-only" in page.connection_note.text()

    page.connection_radio.setChecked(True)
    assert not page.isComplete(), "no endpoint chosen yet"
    driver.until(lambda: page.target_connector is not None, timeout=20, message="Kafka's connector")
    combo = page.connection_endpoint_combo
    assert combo.findText(kafka_target) >= 0, "the connection's topics are offered"
    combo.setCurrentText(kafka_target)
    assert page.isComplete()

    wizard.next()  # options
    wizard.next()  # preview
    assert wizard.currentId() == wizard.PREVIEW
    assert f"{kafka_target} on Kafka" in wizard.preview_page.subTitle()
    preview = wizard.preview_page.preview_edit.toPlainText()
    assert f"target: {kafka_target}\n" in preview
    # AMQP properties have nowhere to go in a Kafka record, and the preview says so.
    assert "properties (not sent: Kafka has none)" in preview
    wizard.next()  # confirm
    summary = wizard.confirm_page.summary_label.text()
    assert f"from {rabbitmq_dlq['dlq']} on RabbitMQ to {kafka_target} on Kafka" in summary
    assert "Across brokers, RabbitMQ → Kafka" in summary

    wizard.next()  # commit: runs the engine
    driver.wait_signal(wizard.finished_replay, timeout=60)
    result = wizard.result
    assert result is not None and result.ok, result
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    wizard.accept()

    records = driver.run(read_committed(kafka_bootstrap, kafka_target), timeout=60)
    by_original = {
        dict(r.headers)[ORIGINAL_ID_HEADER].decode(): r for r in records if r.headers is not None
    }
    assert sorted(by_original) == sorted(m.id for m in chosen)
    assert {r.value for r in records} == {m.body for m in chosen}
    assert {dict(r.headers)[REPLAY_ID_HEADER].decode() for r in records} == {result.action_id}

    # Closing gives back whatever the window still holds; then the DLQ must be empty.
    window.close()
    driver.run(window.wait_closed())
    assert driver.run(drain_queue(**rabbitmq.credentials(), queue=rabbitmq_dlq["dlq"])) == []

    with Journal.open() as journal:
        action = journal.action(result.action_id)
        assert action is not None and action.status == "completed"
        assert (action.source_connection, action.source) == ("RabbitMQ", rabbitmq_dlq["dlq"])
        assert (action.target_connection, action.target) == ("Kafka", kafka_target)
        assert {m.state for m in action.messages} == {"settled"}


def test_a_target_connection_that_cannot_connect_says_why_and_sends_nothing(
    driver: LoopDriver,
    open_window,
    rabbitmq: RabbitMQSettings,
    rabbitmq_profile: ConnectionProfile,
    rabbitmq_dlq: dict[str, str],
):
    # Nothing listens on port 9: connecting is refused at once, at start and from the wizard.
    broken = ConnectionProfile(
        "Kafka DR site", BrokerKind.KAFKA, {"bootstrap_servers": "127.0.0.1:9"}
    )
    window = open_window(rabbitmq_profile, broken)
    wizard = _open_wizard(driver, window, rabbitmq_dlq["dlq"])
    page = wizard.target_page
    assert page.connection_note.text() == ""

    page.connection_radio.setChecked(True)
    assert page.connection_status_label.text() == "Connecting to Kafka DR site…"
    driver.until(
        lambda: page.connection_status_label.text().startswith("Could not connect"),
        timeout=60,
        message="the connection to fail",
    )
    text = page.connection_status_label.text()
    assert re.match(r"Could not connect to Kafka DR site: .+\. .+ Pick it again to retry\.$", text)
    assert page.target_connector is None and not page.isComplete()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert not page.connection_endpoint_combo.isEnabled()
    assert ".." not in text

    # Picking it again retries (and fails again, as nothing listens there yet).
    page.connection_combo.activated.emit(page.connection_combo.currentIndex())
    assert page.connection_status_label.text() == "Connecting to Kafka DR site…"
    driver.until(
        lambda: page.connection_status_label.text().startswith("Could not connect"),
        timeout=60,
        message="the retry to fail",
    )

    wizard.reject()
    window.close()
    driver.run(window.wait_closed())
    assert (
        len(driver.run(drain_queue(**rabbitmq.credentials(), queue=rabbitmq_dlq["dlq"]))) == COUNT
    )
    with Journal.open() as journal:
        assert journal.actions() == []


def test_a_target_connection_not_connected_yet_is_connected_with_its_keyring_password(
    driver: LoopDriver,
    open_window,
    rabbitmq: RabbitMQSettings,
    rabbitmq_profile: ConnectionProfile,
    rabbitmq_dlq: dict[str, str],
):
    # The same broker under a second connection, whose password lives in the keyring only.
    team = ConnectionProfile(
        "Orders team RabbitMQ",
        BrokerKind.RABBITMQ,
        {
            "host": rabbitmq.host,
            "port": str(rabbitmq.port),
            "username": rabbitmq.username,
            "management_url": rabbitmq.management_url,
        },
    )
    keyring = DictKeyring()
    asked: list[str] = []
    window = open_window(
        rabbitmq_profile,
        team,
        secrets=SecretStore(keyring),
        secret_prompt=lambda profile, field: asked.append(f"{profile.name}/{field}"),
    )
    # At start nothing was stored and the prompt was dismissed: not connected.
    assert asked == ["Orders team RabbitMQ/password"]
    assert window.tree_model.state(team.name) is ConnectionState.ERROR
    SecretStore(keyring).set(team.name, "password", rabbitmq.password)

    wizard = _open_wizard(driver, window, rabbitmq_dlq["dlq"])
    chosen = window.selected_messages()
    page = wizard.target_page
    page.connection_radio.setChecked(True)
    driver.until(
        lambda: page.target_connector is not None, timeout=30, message="the team connection"
    )
    assert asked == ["Orders team RabbitMQ/password"], "the keyring answered, no prompt"
    assert window.tree_model.state(team.name) is ConnectionState.CONNECTED
    assert page.connection_endpoint_combo.currentText() == rabbitmq_dlq["source"]
    wizard.next()  # options
    wizard.next()  # preview
    wizard.next()  # confirm
    assert "Across brokers" not in wizard.confirm_page.summary_label.text()
    wizard.next()  # commit
    driver.wait_signal(wizard.finished_replay, timeout=60)
    assert wizard.result is not None and wizard.result.ok, wizard.result
    wizard.accept()

    assert_replayed_on_the_broker(
        driver,
        window,
        rabbitmq,
        source=rabbitmq_dlq["source"],
        dlq=rabbitmq_dlq["dlq"],
        chosen=chosen,
        left=0,
    )
    with Journal.open() as journal:
        (action,) = journal.actions()
        assert (action.source_connection, action.target_connection) == ("RabbitMQ", team.name)
