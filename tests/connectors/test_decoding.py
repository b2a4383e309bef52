"""decode(): real-shaped order bodies in every format, and hostile ones that must not hurt."""

from __future__ import annotations

import io
import json
import random
import struct

import fastavro
import pytest
from eventdesk.connectors.decoding import PARSE_LIMIT, DecodedKind, decode
from eventdesk.connectors.schemas import load_schema, sample_schema_path

from tests.seed.orders import order


@pytest.fixture
def an_order() -> dict:
    return order(random.Random(7), 42)


@pytest.fixture
def order_avro():
    return load_schema(sample_schema_path("order.avsc")).compiled


def confluent(schema_id: int, schema, record: dict) -> bytes:
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def test_json_order_is_parsed(an_order):
    decoded = decode(json.dumps(an_order).encode())

    assert decoded.kind is DecodedKind.JSON
    assert decoded.value == an_order
    assert decoded.title == "JSON"
    assert decoded.error == ""


def test_text_and_binary(an_order):
    assert decode("Zahlung abgelehnt ✓".encode()).title == "Text"
    binary = decode(b"\x1f\x8b\x08\x00\xff\xfe")
    assert binary.kind is DecodedKind.BINARY
    assert binary.raw == b"\x1f\x8b\x08\x00\xff\xfe"
    assert decode(b"").kind is DecodedKind.EMPTY


def test_broken_json_stays_readable_as_text_with_the_reason():
    decoded = decode(b'{"orderId": "ORD-1",, }')

    assert decoded.kind is DecodedKind.TEXT
    assert decoded.error.startswith("Not valid JSON: Expecting property name")


def test_a_hint_overrides_the_automatic_choice(an_order):
    body = json.dumps(an_order).encode()

    assert decode(body, hint="text").kind is DecodedKind.TEXT
    assert decode(body, hint="binary").kind is DecodedKind.BINARY
    forced = decode(b"plain words", hint="json")
    assert forced.kind is DecodedKind.INVALID
    assert forced.title == "Invalid JSON"
    assert forced.raw == b"plain words"
    with pytest.raises(ValueError, match="unknown decoding"):
        decode(body, hint="protobuf")


def test_invalid_utf8_is_binary_or_a_clear_error_when_text_is_forced():
    body = b"caf\xe9 \xff order"

    assert decode(body).kind is DecodedKind.BINARY
    forced = decode(body, hint="text")
    assert forced.kind is DecodedKind.INVALID
    assert forced.error == "Not UTF-8: invalid continuation byte at byte 3."


def test_confluent_avro_order_with_a_local_schema(an_order, order_avro):
    body = confluent(7, order_avro, an_order)

    decoded = decode(body, avro_schemas={7: order_avro})

    assert decoded.kind is DecodedKind.AVRO
    assert decoded.title == "Avro (schema 7)"
    assert decoded.schema_id == 7
    assert decoded.value == an_order


def test_avro_with_an_unknown_schema_id_says_which(an_order, order_avro):
    body = confluent(9, order_avro, an_order)

    decoded = decode(body, avro_schemas={7: order_avro})
    assert decoded.kind is DecodedKind.INVALID
    assert decoded.error == "No Avro schema for schema id 9."
    # Without any schema a leading zero byte is only a guess: plain binary.
    assert decode(body).kind is DecodedKind.BINARY
    # The endpoint's mapped schema reads ids the local map lacks.
    assert decode(body, default_avro_schema=order_avro).value == an_order


def test_truncated_avro_is_a_clear_error_with_the_bytes_kept(an_order, order_avro):
    body = confluent(7, order_avro, an_order)[:40]

    decoded = decode(body, avro_schemas={7: order_avro})

    assert decoded.kind is DecodedKind.INVALID
    assert decoded.title == "Invalid Avro (schema 7)"
    assert decoded.error == "Truncated Avro: the record ends early (40 bytes)."
    assert decoded.raw == body


def test_avro_with_trailing_bytes_is_flagged(an_order, order_avro):
    body = confluent(7, order_avro, an_order) + b"\x00\x01"

    decoded = decode(body, avro_schemas={7: order_avro})

    assert decoded.kind is DecodedKind.INVALID
    assert decoded.error.startswith("2 bytes left after the record")


def test_ten_megabyte_payload_is_not_parsed_but_explained():
    body = json.dumps({"blob": "x" * (10 * 1024 * 1024)}).encode()

    decoded = decode(body)

    assert decoded.kind is DecodedKind.TEXT
    assert decoded.error == "Too large to parse as JSON here (10.0 MiB; the limit is 2.0 MiB)."
    assert len(body) > PARSE_LIMIT
    assert decode(body, hint="json").kind is DecodedKind.INVALID
    assert decode(bytes(range(256)) * 40960).kind is DecodedKind.BINARY


def test_ten_thousand_nesting_levels_are_reported_not_raised():
    body = b"[" * 10_000 + b"]" * 10_000

    decoded = decode(body, hint="json")

    assert decoded.kind is DecodedKind.INVALID
    assert decoded.error == "Not usable as JSON: nesting too deep."
    assert decode(body).error == "Not usable as JSON: nesting too deep."
