"""Purge from the main window against the real local brokers: the name must be typed."""

from __future__ import annotations

import dataclasses

import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.replay import discard

from tests.seed.kafka import create_topic, fill_topic
from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver
from .endpoints import open_loaded, until_reopened


@pytest.mark.rabbitmq
def test_purge_asks_for_the_name_then_empties_the_dlq_and_journals_it(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    open_loaded(driver, window, "RabbitMQ", dlq, 24)  # the table now holds them unacknowledged
    assert window.purge_action.isEnabled()

    window.purge_action.trigger()
    dialog = window.purge_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.purge_button.isEnabled()
    dialog.name_edit.setText(dlq[:-1])
    assert not dialog.purge_button.isEnabled()
    dialog.name_edit.setText(dlq)
    assert dialog.purge_button.isEnabled()
    dialog.purge_button.click()

    until_reopened(
        driver, window, "RabbitMQ", dlq, empty=True, timeout=30, message="the DLQ reopened empty"
    )
    with Journal.open() as journal:
        [action] = journal.actions()
    assert (action.kind, action.status, action.source) == ("purge", "completed", dlq)
    assert action.detail == "24 messages removed"
    window.close()
    driver.run(window.wait_closed())
    assert driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq)) == []
    in_source = driver.run(drain_queue(**rabbitmq.credentials(), queue=rabbitmq_seed["source"]))
    assert len(in_source) == 5  # untouched


@pytest.mark.rabbitmq
def test_purge_is_disabled_on_a_read_only_connection(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    window = open_window(dataclasses.replace(rabbitmq_profile, read_only=True))
    open_loaded(driver, window, "RabbitMQ", rabbitmq_seed["dlq"], 1)
    assert not window.purge_action.isEnabled()
    window.purge_action.trigger()
    assert window.purge_dialog is None


@pytest.mark.kafka
def test_kafka_purge_offers_to_delete_only_the_handled_records(
    driver: LoopDriver, open_window, kafka_bootstrap, kafka_profile, kafka_topics, unique_name
):
    dlt = f"{unique_name}.DLT"
    kafka_topics.append(dlt)

    async def seed_and_discard_three() -> None:
        await create_topic(kafka_bootstrap, dlt, partitions=1)
        await fill_topic(kafka_bootstrap, dlt, 10, 100, partitions=1)
        async with KafkaConnector(bootstrap_servers=kafka_bootstrap) as connector:
            async with connector.browse(dlt) as browser:
                letters = list((await browser.next_page(timeout=10)).messages)
                with Journal.open() as journal:
                    await discard(browser, letters[:3], journal=journal)

    driver.run(seed_and_discard_three(), timeout=60)
    window = open_window(kafka_profile)
    open_loaded(driver, window, "Kafka", dlt, 10)
    window.purge_action.trigger()
    dialog = window.purge_dialog
    assert dialog is not None and dialog.handled_only_check.isVisible()
    assert dialog.handled_only_check.isChecked()
    assert dialog.purge_button.text() == "&Delete handled records"
    dialog.name_edit.setText(dlt)
    dialog.purge_button.click()

    def finished() -> bool:
        with Journal.open() as journal:
            latest = journal.actions(1)
        return bool(latest) and latest[0].kind == "delete-handled" and latest[0].status != "running"

    driver.until(finished, timeout=30, message="the clean-up to be journaled")
    with Journal.open() as journal:
        [action] = journal.actions(1)
    assert (action.status, action.detail) == ("completed", "3 messages removed")

    async def left() -> int:
        async with KafkaConnector(bootstrap_servers=kafka_bootstrap) as connector:
            return await connector.depth(dlt)

    assert driver.run(left(), timeout=30) == 7
