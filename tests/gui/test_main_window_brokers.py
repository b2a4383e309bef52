"""The main window against the real local brokers: list, page, inspect, give back.

Dead letters are made the way production makes them (tests/seed): Spring Kafka
headers, RabbitMQ's own dead-lettering, SQS redrive by maxReceiveCount.
"""

from __future__ import annotations

import asyncio

import pytest
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.message_table_model import Column
from PySide6.QtCore import QModelIndex, Qt

from tests.seed.kafka import fill_topic
from tests.seed.sqs import seed_sqs

from .conftest import LoopDriver


def _depth_text(window: MainWindow, connection: str, endpoint: str) -> str | None:
    index = window.tree_model.endpoint_index(connection, endpoint)
    return index.siblingAtColumn(1).data() if index.isValid() else None


def _until_depth(
    driver: LoopDriver, window: MainWindow, connection: str, endpoint: str, expected: str
) -> None:
    """Waits for a depth, pressing F5 now and then: RabbitMQ's statistics lag by seconds."""

    async def poll() -> None:
        while _depth_text(window, connection, endpoint) != expected:
            await asyncio.sleep(1.0)
            if _depth_text(window, connection, endpoint) != expected:
                window.refresh_action.trigger()

    try:
        driver.run(poll(), timeout=60)
    except TimeoutError:
        seen = _depth_text(window, connection, endpoint)
        pytest.fail(f"{endpoint} on {connection}: depth {seen!r}, expected {expected!r}")


def _open_and_load_everything(driver: LoopDriver, window: MainWindow, conn: str, name: str):
    assert window.open_endpoint_named(conn, name), f"{name} is not listed under {conn}"
    model = window.browser.model
    driver.until(lambda: model.loaded_count > 0, timeout=30, message=f"the first page of {name}")
    pages = 1
    # Page the way the view does: fetchMore whenever canFetchMore says so.
    while model.has_more:
        driver.until(lambda: model.canFetchMore(QModelIndex()) or not model.has_more, timeout=30)
        if model.canFetchMore(QModelIndex()):
            model.fetchMore(QModelIndex())
            pages += 1
            driver.until(lambda: not model.is_loading, timeout=30)
    assert not model.failed
    return model, pages


@pytest.mark.kafka
@pytest.mark.rabbitmq
@pytest.mark.sqs
def test_lists_the_dead_letter_queues_of_all_three_brokers_with_depths(
    driver: LoopDriver,
    open_window,
    kafka_bootstrap: str,
    kafka_profile: ConnectionProfile,
    kafka_topics: list[str],
    rabbitmq_profile: ConnectionProfile,
    rabbitmq_seed: dict[str, str],
    sqs,
    sqs_profile: ConnectionProfile,
    sqs_queues: list[dict[str, str]],
    unique_name: str,
):
    kafka_dlt = f"{unique_name}.DLT"
    kafka_topics.append(kafka_dlt)
    driver.run(fill_topic(kafka_bootstrap, kafka_dlt, 12), timeout=60)
    sqs_names = seed_sqs(
        endpoint_url=sqs.endpoint_url, region=sqs.region, prefix=unique_name, count=6
    )
    sqs_queues.append(sqs_names)

    window = open_window(kafka_profile, rabbitmq_profile, sqs_profile)

    for profile in (kafka_profile, rabbitmq_profile, sqs_profile):
        assert window.tree_model.state(profile.name) is ConnectionState.CONNECTED
    assert window.tree.dead_letters_only.isChecked()
    assert kafka_dlt in window.tree.visible_endpoints("Kafka")
    assert rabbitmq_seed["dlq"] in window.tree.visible_endpoints("RabbitMQ")
    assert sqs_names["orders_dlq"] in window.tree.visible_endpoints("SQS")
    # Only dead-letter queues are shown: the sources are hidden by the default filter.
    assert sqs_names["orders"] not in window.tree.visible_endpoints("SQS")
    _until_depth(driver, window, "Kafka", kafka_dlt, "12")
    _until_depth(driver, window, "RabbitMQ", rabbitmq_seed["dlq"], "24")
    _until_depth(driver, window, "SQS", sqs_names["orders_dlq"], "6")
    assert "Kafka: connected" in window.connections_label.toolTip()


@pytest.mark.kafka
def test_pages_through_a_kafka_dlq_of_1000_and_shows_a_dead_letter(
    driver: LoopDriver,
    open_window,
    kafka_bootstrap: str,
    kafka_profile,
    kafka_topics: list[str],
    unique_name: str,
):
    topic = f"{unique_name}.DLT"
    kafka_topics.append(topic)
    driver.run(fill_topic(kafka_bootstrap, topic, 1000, 512), timeout=120)
    window = open_window(kafka_profile)
    _until_depth(driver, window, "Kafka", topic, "1,000")

    model, pages = _open_and_load_everything(driver, window, "Kafka", topic)

    assert model.rowCount() == 1000
    assert pages == 2  # 500 a page
    assert window.browser.count_label.text() == "All 1,000 loaded"
    assert window.rows_label.text() == "All 1,000 loaded"
    assert window.browser.note_label.text() == window.browser.model.browser.side_effect_note
    assert window.browser.note_label.isVisible()

    window.browser.select_row(417)
    message = window.detail.message
    assert message is not None and message.key == b"ORD-00000417"
    reason = model.data(model.index(417, Column.REASON))
    assert reason and reason == message.dead_letter.summary
    assert model.data(model.index(417, Column.ORIGINAL_DESTINATION)) == unique_name
    assert window.detail.fact_text("original_destination").startswith(unique_name)
    assert window.detail.fact_text("exception_type") != "—"
    assert window.detail.fact_text("convention") == "spring-kafka"
    assert window.detail.body_text().startswith('{\n  "orderId": "ORD-00000417"')


@pytest.mark.rabbitmq
def test_rabbitmq_dlq_from_real_dead_lettering_and_messages_return_on_close(
    driver: LoopDriver, open_window, rabbitmq_profile, rabbitmq_seed: dict[str, str]
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    _until_depth(driver, window, "RabbitMQ", dlq, "24")

    model, _pages = _open_and_load_everything(driver, window, "RabbitMQ", dlq)
    assert model.rowCount() == 24
    assert "unacknowledged" in window.browser.note_label.text()

    window.browser.select_row(0)
    assert window.detail.fact_text("original_destination") == rabbitmq_seed["source"]
    assert window.detail.fact_text("reason") in ("rejected", "expired")
    assert window.detail.fact_text("convention") == "rabbitmq x-death"
    assert model.data(model.index(0, Column.REASON), Qt.ItemDataRole.DisplayRole) in (
        "rejected",
        "expired",
    )

    async def ready_now() -> int:
        async with create_connector(rabbitmq_profile) as connector:
            return await connector.depth(dlq)

    # While browsed, every message is held unacknowledged: none is ready.
    assert driver.run(ready_now()) == 0
    window.close()
    driver.run(window.wait_closed(), timeout=30)
    # Closing gave them all back.
    assert driver.run(ready_now()) == 24


@pytest.mark.sqs
def test_sqs_dlq_from_real_redrive(
    driver: LoopDriver, open_window, sqs, sqs_profile, sqs_queues, unique_name: str
):
    names = seed_sqs(endpoint_url=sqs.endpoint_url, region=sqs.region, prefix=unique_name, count=5)
    sqs_queues.append(names)
    window = open_window(sqs_profile)
    _until_depth(driver, window, "SQS", names["orders_dlq"], "5")

    model, _pages = _open_and_load_everything(driver, window, "SQS", names["orders_dlq"])

    assert model.rowCount() == 5
    window.browser.select_row(2)
    assert window.detail.fact_text("original_destination") == names["orders"]
    assert window.detail.fact_text("reason") == "maxReceiveCount exceeded"
    assert model.data(model.index(2, Column.ORIGINAL_DESTINATION)) == names["orders"]
    assert window.detail.headers_tab.table.rowCount() > 0


@pytest.mark.rabbitmq
def test_a_password_is_asked_once_and_kept_in_memory(
    driver: LoopDriver, open_window, rabbitmq, tmp_path
):
    profile = ConnectionProfile(
        "Asked",
        BrokerKind.RABBITMQ,
        {
            "host": rabbitmq.host,
            "port": str(rabbitmq.port),
            "username": rabbitmq.username,
            "management_url": rabbitmq.management_url,
        },
    )
    asked: list[str] = []

    def prompt(asked_profile: ConnectionProfile, field: str) -> str:
        asked.append(f"{asked_profile.name}/{field}")
        return rabbitmq.password

    window = open_window(profile, secret_prompt=prompt)
    assert window.tree_model.state("Asked") is ConnectionState.CONNECTED

    window.tree_model.set_state("Asked", ConnectionState.ERROR)  # as after a dropped link
    window.refresh_action.trigger()
    driver.until(lambda: window.tree_model.state("Asked") is ConnectionState.CONNECTED, timeout=30)

    assert asked == ["Asked/password"]


@pytest.mark.kafka
def test_a_broker_that_is_down_shows_its_hint_and_the_rest_works(
    driver: LoopDriver, open_window, kafka_profile
):
    down = ConnectionProfile(
        "Nowhere",
        BrokerKind.RABBITMQ,
        {"host": "127.0.0.1", "port": "1", "management_url": "http://127.0.0.1:1"},
    )
    window = open_window(kafka_profile, down, secret_prompt=lambda _p, _f: "guest")

    assert window.tree_model.state("Kafka") is ConnectionState.CONNECTED
    assert window.tree_model.state("Nowhere") is ConnectionState.ERROR
    tooltip = window.tree_model.connection_index("Nowhere").data(Qt.ItemDataRole.ToolTipRole)
    assert "What to do:" in tooltip
    (report,) = window.error_presenter.reports
    assert report.context == "Connecting to Nowhere"
    assert report.hint and report.hint in tooltip
    assert window.errors_button.isVisible()
    assert window.errors_button.text() == "⚠ 1 error"
    assert report.status_text == window.statusBar().currentMessage()
