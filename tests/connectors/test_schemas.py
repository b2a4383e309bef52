"""JSON Schema 2020-12 and Avro validation of orders, and schemas that are themselves broken."""

from __future__ import annotations

import json
import random

import pytest
from eventdesk.connectors.decoding import decode
from eventdesk.connectors.schemas import (
    SchemaError,
    SchemaKind,
    SchemaRegistry,
    load_schema,
    parse_schema,
    sample_schema_path,
    validate,
)

from tests.seed.orders import order

JSON_SCHEMA = sample_schema_path("order.schema.json")
AVRO_SCHEMA = sample_schema_path("order.avsc")
PROTO_SCHEMA = sample_schema_path("order.desc")


def _order(**changes) -> dict:
    document = order(random.Random(3), 5)
    document.update(changes)
    return document


def _broken_order() -> dict:
    document = _order()
    del document["customerId"]
    document["lines"][0]["quantity"] = -1
    return document


def _body(document) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("path", [JSON_SCHEMA, AVRO_SCHEMA, PROTO_SCHEMA])
def test_seeded_orders_are_valid_against_the_samples(path):
    schema = load_schema(path)

    for number in range(50):
        document = order(random.Random(number), number)
        result = validate(decode(_body(document)), schema)
        assert result.valid, (number, result.errors)
        assert result.errors == ()


def test_json_schema_reports_paths_and_messages_shallow_first():
    result = validate(decode(_body(_broken_order())), load_schema(JSON_SCHEMA))

    assert not result.valid
    assert result.schema_name == "order.schema.json"
    assert result.errors == (
        ("$", "'customerId' is a required property"),
        ("$.lines[0].quantity", "-1 is less than the minimum of 1"),
    )
    assert result.error_count == 2


def test_only_the_first_errors_are_kept():
    document = _order(lines=[{"sku": "bad", "quantity": 0, "unitPrice": "x"}] * 10)

    result = validate(decode(_body(document)), load_schema(JSON_SCHEMA), max_errors=3)

    assert len(result.errors) == 3
    assert result.error_count == 30


def test_avro_schema_validates_json_documents():
    result = validate(decode(_body(_broken_order())), load_schema(AVRO_SCHEMA))

    assert not result.valid
    assert result.errors == (("$.customerId", "missing (or null), expected a string"),)


def test_a_body_that_is_not_a_document_is_invalid_with_the_reason():
    schema = load_schema(JSON_SCHEMA)

    assert validate(decode(b"just words"), schema).errors == (
        ("$", "Cannot validate: the body is text, not a document"),
    )
    nested = validate(decode(b"[" * 10_000 + b"]" * 10_000), schema)
    assert nested.errors == (("$", "Cannot validate: Not usable as JSON: nesting too deep."),)


def test_deep_but_parseable_documents_do_not_crash_validation():
    nested_arrays = {
        "$ref": "#/$defs/n",
        "$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}},
    }
    schema = parse_schema(nested_arrays, name="n", kind=SchemaKind.JSON_SCHEMA)
    body = b"[" * 900 + b"]" * 900

    result = validate(decode(body), schema)

    assert result.valid or result.errors == (("$", "Cannot validate: nesting too deep"),)


def test_an_invalid_json_schema_is_a_schema_error(tmp_path):
    path = tmp_path / "bad.schema.json"
    path.write_text(json.dumps({"type": "object", "properties": {"qty": {"minimum": "one"}}}))

    with pytest.raises(SchemaError, match=r"bad\.schema\.json: not a valid JSON Schema at"):
        load_schema(path)


def test_an_invalid_avro_schema_is_a_schema_error(tmp_path):
    path = tmp_path / "bad.avsc"
    bad_field = {"name": "a", "type": "nope"}
    path.write_text(json.dumps({"type": "record", "name": "X", "fields": [bad_field]}))

    with pytest.raises(SchemaError, match=r"bad\.avsc: not a valid Avro schema: nope"):
        load_schema(path)


def test_a_schema_that_is_not_json_is_a_schema_error(tmp_path):
    path = tmp_path / "broken.schema.json"
    path.write_text('{"type": ')

    with pytest.raises(SchemaError, match=r"broken\.schema\.json: not JSON"):
        load_schema(path)
    with pytest.raises(SchemaError, match="cannot read"):
        load_schema(tmp_path / "missing.avsc")


def test_an_unresolvable_reference_is_a_schema_error():
    remote = {"$ref": "https://schemas.invalid/order"}
    schema = parse_schema(remote, name="remote", kind=SchemaKind.JSON_SCHEMA)

    with pytest.raises(SchemaError, match="remote: unresolvable reference"):
        validate(decode(b"{}"), schema)


def test_registry_maps_endpoints_and_keeps_the_old_mapping_on_error(tmp_path):
    registry = SchemaRegistry()
    registry.map_file("orders.DLT", JSON_SCHEMA)
    bad = tmp_path / "bad.avsc"
    bad.write_text('{"type": "record"}')

    with pytest.raises(SchemaError):
        registry.map_file("orders.DLT", bad)
    assert registry.schema_for("orders.DLT").name == "order.schema.json"
    assert registry.schema_for("payments.DLT") is None

    avro = load_schema(AVRO_SCHEMA)
    registry.add_avro(7, avro)
    assert registry.schemas_by_id() == {7: avro}
    with pytest.raises(SchemaError, match="needs an Avro schema"):
        registry.add_avro(8, load_schema(JSON_SCHEMA))


def test_protobuf_schema_names_what_does_not_fit_the_message_type():
    unknown_field = _order(placedBy="web")
    wrong_type = _order()
    wrong_type["lines"][0]["quantity"] = "many"
    schema = load_schema(PROTO_SCHEMA)

    unknown = validate(decode(_body(unknown_field)), schema)
    mistyped = validate(decode(_body(wrong_type)), schema)

    assert schema.kind is SchemaKind.PROTOBUF
    assert (unknown.valid, mistyped.valid) == (False, False)
    assert unknown.errors[0][0] == "$"
    assert 'no field named "placedBy"' in unknown.errors[0][1]
    assert "lines field: Failed to parse quantity field" in mistyped.errors[0][1]
    assert validate(decode(_body(_order())), schema).valid


def test_a_draft_07_json_schema_is_checked_by_its_own_rules():
    # Registries hold many draft-07 schemas; "dependencies" only means something there.
    document = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "dependencies": {"total": ["currency"]},
    }
    schema = parse_schema(document, name="orders-json-value v1", kind=SchemaKind.JSON_SCHEMA)

    result = validate(decode(b'{"total": "9.99"}'), schema)

    assert not result.valid
    assert result.errors[0][1] == "'currency' is a dependency of 'total'"


def test_registry_keeps_schemas_of_any_kind_by_id():
    registry = SchemaRegistry()
    proto, avro = load_schema(PROTO_SCHEMA), load_schema(AVRO_SCHEMA)

    registry.add_schema(3, proto)
    registry.add_schema(1, avro)

    assert registry.schemas_by_id() == {3: proto, 1: avro}
