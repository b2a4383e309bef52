"""Per-endpoint decoding settings: kept per connection in the config folder, checked on the way
in and out, and a damaged file reported instead of silently forgotten."""

from __future__ import annotations

import json

import pytest
from eventdesk.connectors.endpoint_decoding import (
    EndpointDecoder,
    EndpointDecoding,
    decodings_path,
    load_endpoint_decodings,
    save_endpoint_decoding,
)
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.schemas import sample_schema_path

PROTO = EndpointDecoding(
    decoding="protobuf",
    schema_file=str(sample_schema_path("order.desc")),
    protobuf_message="com.acme.orders.Order",
)
REGISTRY = EndpointDecoding(registry_subject="orders-avro-value", registry_version=3)


def test_settings_round_trip_per_connection_and_endpoint() -> None:
    save_endpoint_decoding("orders-prod", "orders.DLT", PROTO)
    save_endpoint_decoding("orders-prod", "payments", REGISTRY)
    save_endpoint_decoding("orders-staging", "orders.DLT", EndpointDecoding(decoding="text"))

    assert load_endpoint_decodings("orders-prod") == {"orders.DLT": PROTO, "payments": REGISTRY}
    assert load_endpoint_decodings("orders-staging") == {
        "orders.DLT": EndpointDecoding(decoding="text")
    }
    assert load_endpoint_decodings("never-saved") == {}
    saved = json.loads(decodings_path().read_text())
    # Only what was chosen is written: no nulls for an operator to wonder about.
    assert saved["connections"]["orders-prod"]["payments"] == {
        "registry_subject": "orders-avro-value",
        "registry_version": 3,
    }


def test_none_or_automatic_removes_the_setting_and_empty_connections() -> None:
    save_endpoint_decoding("orders-prod", "orders.DLT", PROTO)
    save_endpoint_decoding("orders-prod", "payments", REGISTRY)

    save_endpoint_decoding("orders-prod", "orders.DLT", None)
    assert load_endpoint_decodings("orders-prod") == {"payments": REGISTRY}
    save_endpoint_decoding("orders-prod", "payments", EndpointDecoding())
    assert load_endpoint_decodings("orders-prod") == {}
    assert "orders-prod" not in json.loads(decodings_path().read_text())["connections"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"decoding": "yaml"}, "unknown decoding 'yaml'"),
        ({"schema_file": "a.avsc", "registry_subject": "s"}, "not both"),
        ({"schema_file": "order.xsd"}, "expected a .json, .avsc, .desc file"),
        ({"registry_version": 2}, "needs a registry subject"),
        ({"registry_subject": "s", "registry_version": 0}, "not a version number"),
    ],
)
def test_settings_that_make_no_sense_are_refused(fields: dict, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as refused:
        EndpointDecoding(**fields)

    assert refused.value.hint == "Change the endpoint's decoding."


def test_a_damaged_file_is_a_clear_error_naming_it() -> None:
    decodings_path().parent.mkdir(parents=True, exist_ok=True)
    decodings_path().write_text("{not json")

    with pytest.raises(ConfigurationError, match="endpoint decodings") as damaged:
        load_endpoint_decodings("orders-prod")
    assert "rewrites it on save" in damaged.value.hint

    decodings_path().write_text(
        json.dumps({"connections": {"orders-prod": {"orders.DLT": {"decoding": "morse"}}}})
    )
    with pytest.raises(ConfigurationError, match=r"orders-prod / orders\.DLT"):
        load_endpoint_decodings("orders-prod")


async def test_a_registry_subject_without_a_registry_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="needs a Schema Registry") as missing:
        await EndpointDecoder.open(REGISTRY, None)

    assert "Schema Registry URL" in missing.value.hint
