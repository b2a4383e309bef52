"""Per-endpoint decoding and schema in the real window, on a real Kafka DLT.

The operator's "Decode as" and schema survive closing the window; a body that is not
what it was forced to be shows why in place, beside its raw bytes.
"""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.endpoint_decoding import EndpointDecoding, load_endpoint_decodings
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.schemas import sample_schema_path
from eventdesk.gui.main_window import MainWindow

from tests.seed.kafka import create_topic

from .conftest import LoopDriver

ORDER = {
    "orderId": "ORD-2025-100001",
    "customerId": "CUST-1042",
    "placedAt": "2025-06-02T09:01:17Z",
    "currency": "EUR",
    "lines": [{"sku": "SKU-10442", "quantity": 2, "unitPrice": "4.99"}],
    "total": "9.98",
    "shipping": {"country": "DE", "postcode": "10115", "method": "STANDARD"},
}
BINARY = b"\x1f\x8b\x08\x00\xff\xfe binary \x00\x01"
BROKEN_ORDER = {**ORDER, "lines": []}


async def _produce(bootstrap: str, topic: str, bodies: list[bytes]) -> None:
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n, body in enumerate(bodies):
            await producer.send_and_wait(topic, body, key=f"k-{n}".encode())
    finally:
        await producer.stop()


def _open_topic(driver: LoopDriver, window: MainWindow, topic: str, rows: int) -> None:
    driver.until(lambda: topic in window.tree.visible_endpoints("Kafka"), timeout=30)
    assert window.open_endpoint_named("Kafka", topic)
    driver.until(lambda: window.browser.model.loaded_count == rows, timeout=30)


@pytest.fixture
def dlt(driver: LoopDriver, kafka_bootstrap: str, kafka_topics: list[str], unique_name: str):
    topic = f"{unique_name}.DLT"
    kafka_topics.append(topic)
    bodies = [json.dumps(ORDER).encode(), BINARY, json.dumps(BROKEN_ORDER).encode()]
    driver.run(_produce(kafka_bootstrap, topic, bodies), timeout=60)
    return topic


@pytest.mark.kafka
def test_decode_as_json_persists_across_reopen_and_shows_errors_in_place(
    driver: LoopDriver, open_window, kafka_profile: ConnectionProfile, dlt: str
):
    window = open_window(kafka_profile)
    _open_topic(driver, window, dlt, 3)
    detail = window.detail
    window.browser.select_row(1)
    assert detail.body_tab.kind_label.text().startswith("Binary")
    assert detail.decoding_text() == "automatic: not text, shown as bytes"

    detail.body_tab.decode_combo.setCurrentIndex(detail.body_tab.decode_combo.findData("json"))

    assert detail.decoding_text() == "JSON: chosen for this endpoint"
    assert detail.body_tab.kind_label.text().startswith("Invalid JSON")
    error = detail.body_tab.error_label
    assert error.isVisible() and error.text().startswith("Not UTF-8")
    # The raw bytes stay on screen, as a hex dump.
    assert detail.body_text().startswith("00000000  1f 8b 08 00 ff fe 20 62")
    assert load_endpoint_decodings("Kafka")[dlt] == EndpointDecoding(decoding="json")

    window.close()
    driver.run(window.wait_closed())
    again = open_window(kafka_profile)
    _open_topic(driver, again, dlt, 3)
    assert again.detail.body_tab.hint() == "json"
    again.browser.select_row(0)
    assert again.detail.body_tab.kind_label.text().startswith("JSON")
    again.browser.select_row(1)
    assert again.detail.body_tab.error_label.text().startswith("Not UTF-8")

    # Back to automatic: the setting is removed, not kept as "automatic".
    combo = again.detail.body_tab.decode_combo
    combo.setCurrentIndex(combo.findData(None))
    assert again.detail.body_tab.kind_label.text().startswith("Binary")
    assert dlt not in load_endpoint_decodings("Kafka")


@pytest.mark.kafka
def test_a_schema_file_chosen_in_the_dialog_validates_the_shown_message(
    driver: LoopDriver, open_window, kafka_profile: ConnectionProfile, dlt: str
):
    window = open_window(kafka_profile)
    _open_topic(driver, window, dlt, 3)
    window.browser.select_row(2)
    window.detail.decoding_action.trigger()
    dialog = window.detail.decoding_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.registry_radio.isEnabled()  # this connection names no registry

    dialog.choose_file(str(sample_schema_path("order.schema.json")))
    assert dialog.validity_text().startswith("Invalid against order.schema.json:\n$.lines:")
    dialog.apply_button.click()

    assert not dialog.isVisible()
    assert window.detail.validity_text().startswith("Invalid: $.lines:")
    window.browser.select_row(0)
    assert window.detail.validity_text() == "Valid against order.schema.json"
    saved = load_endpoint_decodings("Kafka")[dlt]
    assert saved.schema_file == str(sample_schema_path("order.schema.json"))
    # The window's search and editor check against the same schema.
    assert window.detail.schemas.schema_for(dlt).name == "order.schema.json"

    window.close()
    driver.run(window.wait_closed())
    again = open_window(kafka_profile)
    _open_topic(driver, again, dlt, 3)
    again.browser.select_row(2)
    assert again.detail.validity_text().startswith("Invalid: $.lines:")
