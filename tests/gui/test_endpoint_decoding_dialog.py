"""The "Decoding and schema" dialog and the detail pane against a Schema Registry.

No Confluent-compatible registry can run on this machine (see
tests/connectors/test_schema_registry.py for why), so the registry here is a recorded-response
server: a local HTTP server answering the registry's REST paths (/subjects,
/subjects/<s>/versions[/<v>], /schemas/ids/<id>) with responses in the shape Confluent Schema
Registry documents. The client, its HTTP, the async operations, the widgets and (in the
window test) the Kafka broker are the real ones.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import fastavro
import pytest
from eventdesk.connectors.endpoint_decoding import (
    EndpointDecoding,
    load_endpoint_decodings,
    save_endpoint_decoding,
)
from eventdesk.connectors.model import Message
from eventdesk.connectors.schema_registry import RegistryClient
from eventdesk.connectors.schemas import load_schema, sample_schema_path
from eventdesk.gui.endpoint_decoding_dialog import (
    EndpointDecodingDialog,
    decoding_reason,
    elided_name,
)
from eventdesk.gui.message_detail import MessageDetailWidget

from .conftest import LoopDriver

AVSC = sample_schema_path("order.avsc").read_text(encoding="utf-8")
SUBJECT = "orders.DLT-value"
SCHEMA_ID = 7
ORDER = {
    "orderId": "ORD-2025-100001",
    "customerId": "CUST-1042",
    "placedAt": "2025-06-02T09:01:17Z",
    "currency": "EUR",
    "lines": [{"sku": "SKU-10442", "quantity": 2, "unitPrice": "4.99"}],
    "total": "9.98",
    "shipping": {"country": "DE", "postcode": "10115", "method": "STANDARD"},
}


def _recorded() -> dict[str, object]:
    version = {"subject": SUBJECT, "version": 2, "id": SCHEMA_ID, "schema": AVSC}
    return {
        "/subjects": [SUBJECT, "payments-value"],
        f"/subjects/{SUBJECT}/versions": [1, 2],
        f"/subjects/{SUBJECT}/versions/latest": version,
        f"/subjects/{SUBJECT}/versions/2": version,
        f"/schemas/ids/{SCHEMA_ID}": {"schema": AVSC},
    }


class _RecordedRegistry(BaseHTTPRequestHandler):
    responses: ClassVar[dict[str, object]] = {}

    def do_GET(self) -> None:
        body = self.responses.get(self.path)
        if body is None:
            status, body = 404, {"error_code": 40401, "message": "Subject not found."}
        else:
            status = 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    handler = type("Handler", (_RecordedRegistry,), {"responses": _recorded()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _confluent_avro(record: dict, schema_id: int = SCHEMA_ID) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(AVSC)), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def _message(body: bytes) -> Message:
    return Message(endpoint="orders.DLT", id="0:7", body=body)


@pytest.fixture
def detail(qtbot, driver: LoopDriver) -> Iterator[MessageDetailWidget]:
    widget = MessageDetailWidget()
    widget.resize(900, 600)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.cancel_tasks()


def test_automatic_decoding_fetches_the_schema_id_and_says_why(
    driver: LoopDriver, detail: MessageDetailWidget, registry_url: str
):
    detail.open_endpoint("Kafka", "orders.DLT", registry=lambda: RegistryClient(registry_url))
    detail.show_message(_message(_confluent_avro(ORDER)))

    driver.until(lambda: detail.body_tab.kind_label.text().startswith("Avro"), timeout=10)
    assert detail.decoding_text() == "automatic: Confluent Avro, schema id 7"
    assert json.loads(detail.body_text()) == ORDER


def test_a_schema_id_the_registry_lacks_is_said_in_place(
    driver: LoopDriver, detail: MessageDetailWidget, registry_url: str
):
    detail.open_endpoint("Kafka", "orders.DLT", registry=lambda: RegistryClient(registry_url))
    detail.show_message(_message(_confluent_avro(ORDER, schema_id=99)))

    driver.until(lambda: "Schema id 99 could not be fetched" in detail.validity_text())
    assert detail.body_tab.kind_label.text().startswith("Binary")  # the raw bytes, as hex
    assert detail.body_text().startswith("00000000  00 00 00 00 63")


def test_mapping_a_registry_subject_in_the_dialog(
    driver: LoopDriver, detail: MessageDetailWidget, registry_url: str
):
    detail.open_endpoint("Kafka", "orders.DLT", registry=lambda: RegistryClient(registry_url))
    detail.show_message(_message(_confluent_avro({**ORDER, "lines": []})))
    dialog = detail.open_decoding_dialog()
    assert dialog is not None and dialog.registry_radio.isEnabled()

    dialog.registry_radio.setChecked(True)
    driver.until(lambda: dialog.subject_combo.count() == 2, message="the subject list")
    assert [dialog.subject_combo.itemText(i) for i in range(2)] == [SUBJECT, "payments-value"]
    dialog.subject_combo.setCurrentIndex(0)
    dialog.subject_combo.activated.emit(0)
    driver.until(lambda: dialog.version_combo.count() == 3, message="the versions")
    assert [dialog.version_combo.itemText(i) for i in range(3)] == ["latest", "2", "1"]
    driver.until(lambda: dialog.schema is not None, message="the subject's schema")
    assert dialog.registry_status.text() == f"Avro schema: {dialog.schema.name}"
    assert "id 7" in dialog.schema.name
    # The preview decodes the selected message with it; its empty lines array is valid Avro.
    assert "Avro (schema 7)" in dialog.preview_label.text()
    assert dialog.validity_text().startswith("Valid against")

    dialog.apply_button.click()
    assert not dialog.isVisible()
    assert load_endpoint_decodings("Kafka")["orders.DLT"] == EndpointDecoding(
        registry_subject=SUBJECT
    )
    assert detail.schemas.schema_for("orders.DLT") is not None
    assert detail.validity_text().startswith("Valid against")


def test_a_saved_registry_subject_is_fetched_when_the_endpoint_opens(
    driver: LoopDriver, detail: MessageDetailWidget, registry_url: str
):
    save_endpoint_decoding("Kafka", "orders.DLT", EndpointDecoding(registry_subject=SUBJECT))
    detail.open_endpoint("Kafka", "orders.DLT", registry=lambda: RegistryClient(registry_url))
    driver.until(lambda: detail.schemas.schema_for("orders.DLT") is not None)
    detail.show_message(_message(json.dumps(ORDER).encode()))
    # A JSON body checked against an Avro subject: the schema's own verdict, shown.
    assert detail.validity_text().startswith("Valid against")


def test_an_unreachable_registry_gives_a_clear_error_and_cannot_be_applied(
    driver: LoopDriver, detail: MessageDetailWidget, closed_port_url: str
):
    detail.open_endpoint("Kafka", "orders.DLT", registry=lambda: RegistryClient(closed_port_url))
    detail.show_message(_message(json.dumps(ORDER).encode()))
    dialog = detail.open_decoding_dialog()
    dialog.registry_radio.setChecked(True)

    driver.until(
        lambda: "Check the connection's Schema Registry URL" in dialog.registry_status.text()
    )
    assert dialog.registry_status.styleSheet() == "color: #b3261e;"
    dialog.subject_combo.setEditText(SUBJECT)
    dialog.fetch_schema()
    driver.until(lambda: dialog.schema is None and "registry" in dialog.why_not_apply())
    dialog.apply_button.click()
    assert dialog.isVisible() and "registry" in dialog.validity_text()
    assert load_endpoint_decodings("Kafka") == {}


def test_a_broken_schema_file_is_refused_with_its_reason(qtbot, tmp_path):
    bad = tmp_path / "broken.schema.json"
    bad.write_text('{"type": "no-such-type"}', encoding="utf-8")
    dialog = EndpointDecodingDialog(
        "orders.DLT", EndpointDecoding(), message=_message(json.dumps(ORDER).encode())
    )
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.registry_radio.isEnabled()
    assert "schema_registry_url" in dialog.registry_radio.toolTip()

    dialog.choose_file(str(bad))
    assert dialog.validity_text().startswith("Schema not usable: broken.schema.json")
    dialog.apply_button.click()
    assert dialog.isVisible()


def test_the_reason_names_the_choice_or_what_automatic_saw():
    from eventdesk.connectors.decoding import decode

    assert decoding_reason(decode(b"{}"), None) == "automatic: the body parses as JSON"
    assert decoding_reason(decode(b"{}", hint="text"), "text") == "Text: chosen for this endpoint"
    assert decoding_reason(decode(b"plain"), None) == "automatic: UTF-8 text"
    assert elided_name("a" * 100, 21) == "a" * 10 + "…" + "a" * 10


def test_endpoint_names_are_shown_as_written_not_as_markup(qtbot):
    dialog = EndpointDecodingDialog("<b>orders</b>&dlq", EndpointDecoding())
    qtbot.addWidget(dialog)
    assert "&lt;b&gt;orders&lt;/b&gt;&amp;dlq" in dialog.title_label.text()
    assert dialog.windowTitle() == "Decoding and schema for <b>orders</b>&dlq"


def test_a_descriptor_set_and_message_type_decode_protobuf_bodies(
    driver: LoopDriver, detail: MessageDetailWidget
):
    from google.protobuf import message_factory

    desc = str(sample_schema_path("order.desc"))
    order_type = load_schema(desc).compiled.descriptor()
    order = message_factory.GetMessageClass(order_type)(order_id="ORD-2025-100001", total="9.98")
    detail.open_endpoint("Kafka", "orders.pb")
    detail.show_message(Message(endpoint="orders.pb", id="0:1", body=order.SerializeToString()))
    assert not detail.body_tab.kind_label.text().startswith("Protobuf")

    dialog = detail.open_decoding_dialog()
    dialog.decode_combo.setCurrentIndex(dialog.decode_combo.findData("protobuf"))
    dialog.message_type_edit.setText("com.acme.orders.Order")
    dialog.choose_file(desc)
    assert dialog.message_type_edit.isEnabled()
    assert dialog.preview_label.text().startswith("Protobuf")
    dialog.apply_button.click()

    assert load_endpoint_decodings("Kafka")["orders.pb"] == EndpointDecoding(
        decoding="protobuf", schema_file=desc, protobuf_message="com.acme.orders.Order"
    )
    shown = json.loads(detail.body_text())
    assert shown["orderId"] == "ORD-2025-100001" and shown["total"] == "9.98"
    assert detail.decoding_text() == "Protobuf: chosen for this endpoint"

    dialog = detail.open_decoding_dialog()
    dialog.message_type_edit.setText("com.acme.orders.NoSuchType")
    dialog._on_file_edit_finished()
    assert dialog.validity_text().startswith("Schema not usable:")
    dialog.apply_button.click()
    assert dialog.isVisible()  # refused: the endpoint keeps its working setting


def test_a_saved_schema_file_that_is_gone_is_said_beside_the_message(
    detail: MessageDetailWidget, tmp_path
):
    gone = tmp_path / "gone.schema.json"
    save_endpoint_decoding("Kafka", "orders.DLT", EndpointDecoding(schema_file=str(gone)))
    detail.open_endpoint("Kafka", "orders.DLT")
    detail.show_message(_message(json.dumps(ORDER).encode()))
    assert detail.validity_text().startswith("Schema not usable: gone.schema.json: cannot read")
    assert json.loads(detail.body_text()) == ORDER  # the body still shows


def test_an_unreadable_settings_file_is_explained_not_fatal(detail: MessageDetailWidget):
    from eventdesk.connectors.endpoint_decoding import decodings_path

    decodings_path().parent.mkdir(parents=True, exist_ok=True)
    decodings_path().write_text("{not json", encoding="utf-8")
    detail.open_endpoint("Kafka", "orders.DLT")
    detail.show_message(_message(json.dumps(ORDER).encode()))
    assert detail.validity_text().startswith("Cannot read the endpoint decodings")
    assert "Fix or remove the file" in detail.validity_text()
    assert detail.body_tab.hint() is None


def test_a_framed_body_that_does_not_read_is_named_as_such():
    from eventdesk.connectors.decoding import decode

    body = _confluent_avro(ORDER)[:9]  # truncated
    schemas = {SCHEMA_ID: load_schema(sample_schema_path("order.avsc"))}
    truncated = decode(body, schemas=schemas)
    assert decoding_reason(truncated, None) == (
        "automatic: Confluent framing, schema id 7 (did not read)"
    )


def test_a_profile_names_its_registry_or_has_none():
    from eventdesk.connectors.model import BrokerKind
    from eventdesk.connectors.profiles import ConnectionProfile
    from eventdesk.connectors.secrets import SecretStore
    from eventdesk.gui.endpoint_decoding_dialog import registry_factory

    plain = ConnectionProfile("K", BrokerKind.KAFKA, {"bootstrap_servers": "127.0.0.1:19092"})
    assert registry_factory(plain, SecretStore()) is None
    settings = {**plain.settings, "schema_registry_url": "http://127.0.0.1:8081"}
    named = ConnectionProfile("K", BrokerKind.KAFKA, settings)
    make = registry_factory(named, SecretStore())
    assert make is not None and make().url == "http://127.0.0.1:8081"


@pytest.mark.kafka
def test_the_window_decodes_real_kafka_avro_through_the_connections_registry(
    driver: LoopDriver, open_window, kafka_bootstrap: str, kafka_topics, unique_name, registry_url
):
    from aiokafka import AIOKafkaProducer
    from eventdesk.connectors.model import BrokerKind
    from eventdesk.connectors.profiles import ConnectionProfile

    from tests.seed.kafka import create_topic

    topic = f"{unique_name}.DLT"
    kafka_topics.append(topic)

    async def produce() -> None:
        await create_topic(kafka_bootstrap, topic)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, _confluent_avro(ORDER), key=b"ORD-1")
        finally:
            await producer.stop()

    driver.run(produce(), timeout=60)
    settings = {"bootstrap_servers": kafka_bootstrap, "schema_registry_url": registry_url}
    window = open_window(ConnectionProfile("Kafka", BrokerKind.KAFKA, settings))
    driver.until(lambda: topic in window.tree.visible_endpoints("Kafka"), timeout=30)
    assert window.open_endpoint_named("Kafka", topic)
    driver.until(lambda: window.browser.model.loaded_count == 1, timeout=30)
    window.browser.select_row(0)

    detail = window.detail
    driver.until(lambda: detail.decoding_text() == "automatic: Confluent Avro, schema id 7")
    assert json.loads(detail.body_text()) == ORDER
