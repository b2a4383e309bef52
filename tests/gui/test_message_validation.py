"""The Body tab shows how a body was decoded and whether it matches the endpoint's schema."""

from __future__ import annotations

import io
import json
import random
import struct

import fastavro
import pytest
from eventdesk.connectors.model import Message
from eventdesk.connectors.schemas import SchemaRegistry, load_schema, sample_schema_path
from eventdesk.gui.message_detail import MessageDetailWidget

from tests.seed.orders import order

ENDPOINT = "orders.DLT"
JSON_SCHEMA = str(sample_schema_path("order.schema.json"))
AVRO_SCHEMA = sample_schema_path("order.avsc")


@pytest.fixture
def detail(qtbot) -> MessageDetailWidget:
    widget = MessageDetailWidget(schemas=SchemaRegistry())
    widget.resize(900, 600)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _message(body: bytes, endpoint: str = ENDPOINT) -> Message:
    return Message(endpoint=endpoint, id="0:7", body=body)


def _order_body(**changes) -> bytes:
    document = order(random.Random(11), 3)
    document.update(changes)
    return json.dumps(document).encode()


def _avro_body(schema_id: int, record: dict, schema) -> bytes:
    out = io.BytesIO(struct.pack(">bI", 0, schema_id))
    out.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def test_no_schema_no_validity_line(detail: MessageDetailWidget):
    detail.show_message(_message(_order_body()))

    assert detail.body_tab.kind_label.text().startswith("JSON · ")
    assert detail.validity_text() == ""
    assert not detail.body_tab.validity_label.isVisible()


def test_valid_order_is_green(detail: MessageDetailWidget):
    detail.show_message(_message(_order_body()))
    detail.map_schema_file(JSON_SCHEMA)

    assert detail.validity_text() == "Valid against order.schema.json"
    assert detail.body_tab.validity_label.isVisible()
    assert "#1a7f37" in detail.body_tab.validity_label.styleSheet()


def test_invalid_order_is_red_with_the_error_paths(detail: MessageDetailWidget):
    detail.schemas.map_file(ENDPOINT, JSON_SCHEMA)
    document = json.loads(_order_body())
    del document["customerId"]
    document["lines"][0]["quantity"] = -1

    detail.show_message(_message(json.dumps(document).encode()))

    assert detail.validity_text() == (
        "Invalid: $: 'customerId' is a required property\n"
        "$.lines[0].quantity: -1 is less than the minimum of 1"
    )
    assert "#b3261e" in detail.body_tab.validity_label.styleSheet()
    # Another endpoint has no schema, so no verdict.
    detail.show_message(_message(json.dumps(document).encode(), endpoint="payments.DLT"))
    assert detail.validity_text() == ""


def test_avro_order_is_decoded_shown_as_json_and_validated(detail: MessageDetailWidget):
    avro = load_schema(AVRO_SCHEMA)
    detail.schemas.add_avro(7, avro)
    detail.schemas.map_schema(ENDPOINT, avro)
    document = order(random.Random(11), 3)

    detail.show_message(_message(_avro_body(7, document, avro.compiled)))

    assert detail.body_tab.kind_label.text().startswith("Avro (schema 7) · ")
    assert json.loads(detail.body_text()) == document
    assert detail.validity_text() == "Valid against order.avsc"


def test_truncated_avro_shows_the_error_and_the_bytes(detail: MessageDetailWidget):
    avro = load_schema(AVRO_SCHEMA)
    detail.schemas.add_avro(7, avro)
    body = _avro_body(7, order(random.Random(11), 3), avro.compiled)[:30]

    detail.show_message(_message(body))

    assert detail.body_tab.kind_label.text() == "Invalid Avro (schema 7) · 30 B"
    assert detail.body_tab.error_label.isVisible()
    assert detail.body_tab.error_label.text().startswith("Truncated Avro")
    assert detail.body_text().startswith("00000000  00 00 00 00 07 ")


def test_deep_json_is_explained_in_place(detail: MessageDetailWidget):
    detail.schemas.map_file(ENDPOINT, JSON_SCHEMA)

    detail.show_message(_message(b"[" * 10_000 + b"]" * 10_000))

    assert detail.body_tab.error_label.text() == "Not usable as JSON: nesting too deep."
    assert detail.validity_text() == (
        "Invalid: $: Cannot validate: Not usable as JSON: nesting too deep."
    )


def test_an_unusable_schema_file_is_reported_not_raised(detail: MessageDetailWidget, tmp_path):
    bad = tmp_path / "bad.schema.json"
    bad.write_text(json.dumps({"type": "object", "required": "customerId"}))
    detail.show_message(_message(_order_body()))

    detail.map_schema_file(str(bad))

    assert detail.validity_text().startswith(
        "Schema not usable: bad.schema.json: not a valid JSON Schema at $.required:"
    )
    assert detail.schemas.schema_for(ENDPOINT) is None


def test_schema_button_maps_the_chosen_file(detail: MessageDetailWidget, monkeypatch):
    monkeypatch.setattr(
        "eventdesk.gui.message_detail.QFileDialog.getOpenFileName",
        lambda *args, **kwargs: (JSON_SCHEMA, ""),
    )
    detail.show_message(_message(_order_body()))

    detail.body_tab.schema_button.click()

    assert detail.schemas.schema_for(ENDPOINT).name == "order.schema.json"
    assert detail.validity_text() == "Valid against order.schema.json"
