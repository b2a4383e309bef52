"""decode(): real-shaped order bodies in every format (JSON, text, Avro, Protobuf), and hostile
ones that must not hurt."""

from __future__ import annotations

import io
import json
import random
import struct

import fastavro
import pytest
from eventdesk.connectors.decoding import PARSE_LIMIT, DecodedKind, decode, framed_schema_id
from eventdesk.connectors.protobuf_decoding import read_message_indexes, write_message_indexes
from eventdesk.connectors.schemas import load_schema, sample_schema_path
from google.protobuf import json_format, message_factory
from grpc_tools import protoc

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
        decode(body, hint="yaml")


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


# -- Protobuf and schemas of any kind by id -------------------------------------------------


@pytest.fixture
def order_proto():
    return load_schema(sample_schema_path("order.desc"))


def protobuf_body(schema, document: dict, message: str = "com.acme.orders.Order") -> bytes:
    instance = message_factory.GetMessageClass(
        schema.compiled.file.pool.FindMessageTypeByName(message)
    )()
    json_format.ParseDict(document, instance)
    return instance.SerializeToString()


@pytest.mark.parametrize(
    ("indexes", "framing"),
    [([0], b"\x00"), ([2], b"\x02\x04"), ([0, 0], b"\x04\x00\x00"), ([1, 70], b"\x04\x02\x8c\x01")],
)
def test_message_indexes_are_confluent_zigzag_varints(indexes, framing):
    assert write_message_indexes(indexes) == framing
    assert read_message_indexes(b"\xff" + framing + b"rest", 1) == (indexes, 1 + len(framing))


def test_confluent_protobuf_picks_the_message_its_indexes_name(an_order, order_proto):
    cancelled = {"orderId": an_order["orderId"], "reason": "out of stock"}
    first = struct.pack(">bI", 0, 11) + b"\x00" + protobuf_body(order_proto, an_order)
    third = (
        struct.pack(">bI", 0, 11)
        + write_message_indexes([2])
        + protobuf_body(order_proto, cancelled, "com.acme.orders.OrderCancelled")
    )

    decoded = [decode(body, schemas={11: order_proto}) for body in (first, third)]

    assert [d.kind for d in decoded] == [DecodedKind.PROTOBUF, DecodedKind.PROTOBUF]
    assert [d.value for d in decoded] == [an_order, cancelled]
    assert decoded[1].title == "Protobuf (schema 11, com.acme.orders.OrderCancelled)"
    assert decoded[0].is_structured


def test_protobuf_defaults_are_shown_not_dropped(order_proto):
    body = protobuf_body(order_proto, {"orderId": "ORD-1"})

    value = decode(body, hint="protobuf", default_schema=order_proto).value

    assert value["orderId"] == "ORD-1"
    assert (value["currency"], value["lines"]) == ("", [])
    assert "shipping" not in value  # a message field has presence: unset is not "empty"


def test_bad_protobuf_is_a_clear_error_never_a_raise(an_order, order_proto):
    body = protobuf_body(order_proto, an_order)
    framed = struct.pack(">bI", 0, 11)
    inputs = {
        "truncated": (body[:30], "protobuf"),
        "no mapping": (body, "protobuf"),
        "bad index": (framed + b"\x02\x0e" + body, None),
        "cut framing": (framed + b"\x04\x00", None),
        "huge count": (framed + b"\xfe\x01" + body, None),
    }

    cases = {
        name: decode(raw, hint=hint, schemas={11: order_proto}, default_schema=order_proto)
        for name, (raw, hint) in inputs.items()
        if name != "no mapping"
    }
    cases["no mapping"] = decode(body, hint="protobuf")

    assert {name: d.kind for name, d in cases.items()} == dict.fromkeys(cases, DecodedKind.INVALID)
    assert {name: d.raw for name, d in cases.items()} == {n: raw for n, (raw, _) in inputs.items()}
    assert cases["truncated"].error.startswith("Not a com.acme.orders.Order:")
    assert cases["no mapping"].error == "No Protobuf message type is mapped to this endpoint."
    assert cases["bad index"].error == "No message at index path [7] in order.proto."
    assert cases["cut framing"].error.startswith("Truncated Protobuf framing")
    assert cases["huge count"].error == "Not Confluent Protobuf: message index count 127."


def test_json_framed_with_a_json_schema_id(an_order):
    schema = load_schema(sample_schema_path("order.schema.json"))
    body = struct.pack(">bI", 0, 4) + json.dumps(an_order).encode()

    decoded = decode(body, schemas={4: schema})

    assert (decoded.kind, decoded.schema_id, decoded.value) == (DecodedKind.JSON, 4, an_order)
    assert decoded.raw == body
    assert decoded.title == "JSON (schema 4)"
    # Forced JSON reads the framing even when the id is unknown.
    assert decode(body, hint="json").value == an_order


def test_an_unknown_id_among_registry_schemas_is_invalid_not_a_guess(an_order, order_proto):
    body = struct.pack(">bI", 0, 12) + b"\x00" + protobuf_body(order_proto, an_order)

    decoded = decode(body, schemas={11: order_proto})

    assert decoded.kind is DecodedKind.INVALID
    assert decoded.error == "No schema for schema id 12."
    assert decoded.title == "Invalid body (schema 12)"
    assert framed_schema_id(body) == 12
    assert framed_schema_id(b"{}") is None


def test_order_desc_is_what_order_proto_compiles_to(tmp_path):
    """resources/schemas/order.desc is committed; it must not drift from order.proto."""
    out = tmp_path / "order.desc"
    schemas = sample_schema_path("order.proto").parent
    status = protoc.main(
        [
            "protoc",
            f"-I{schemas}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            str(schemas / "order.proto"),
        ]
    )

    assert status == 0
    assert out.read_bytes() == sample_schema_path("order.desc").read_bytes()
