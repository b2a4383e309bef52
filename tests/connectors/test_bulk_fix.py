"""Bulk fix: patches and simple operations checked per message; fixed SQS dead letters replayed."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from eventdesk.connectors.bulk_fix import (
    PatchError,
    field_pointer,
    fix_all,
    fix_message,
    operation,
    parse_patch,
    patch_from_operations,
)
from eventdesk.connectors.journal import Journal, payload_sha256
from eventdesk.connectors.model import Message
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER, ReplayOptions, replay
from eventdesk.connectors.schemas import load_schema, sample_schema_path
from eventdesk.connectors.sqs import SqsConnector

from tests.conftest import SqsSettings
from tests.seed.sqs import drain_queue, seed_sqs

ORDER_SCHEMA = load_schema(sample_schema_path("order.schema.json"))


def _order(lines: int = 2, **changes: Any) -> dict[str, Any]:
    document = {
        "orderId": "ORD-2025-100001",
        "customerId": "CUST-1042",
        "placedAt": "2025-06-02T09:01:17Z",
        "currency": "EUR",
        "lines": [{"sku": f"SKU-{n}", "quantity": 1, "unitPrice": "4.99"} for n in range(lines)],
        "total": "9.98",
        "shipping": {"country": "DE", "postcode": "10115", "method": "STANDARD"},
    }
    document.update(changes)
    return document


def _message(document: Any, number: int = 0, *, indent: int | None = None) -> Message:
    body = json.dumps(document, indent=indent, separators=None if indent else (",", ":"))
    return Message("orders-dlq", f"m-{number}", body.encode())


# -- the operations ------------------------------------------------------------------------


def test_field_paths_become_json_pointers_with_escapes():
    assert field_pointer("shipping.country") == "/shipping/country"
    assert field_pointer("$.shipping.country") == "/shipping/country"
    assert field_pointer("/lines/0/sku") == "/lines/0/sku"
    assert field_pointer("a/b.c~d") == "/a~1b/c~0d"
    for bad in ("", "a..b", "/a/~2"):
        with pytest.raises(PatchError) as caught:
            field_pointer(bad)
        assert caught.value.hint


def test_simple_operations_are_json_patch_operations():
    assert operation("set", "shipping.method", '"EXPRESS"') == {
        "op": "add",
        "path": "/shipping/method",
        "value": "EXPRESS",
    }
    assert operation("set", "total", "12.50")["value"] == 12.5  # JSON when it reads as JSON
    assert operation("set", "note", "needs review")["value"] == "needs review"  # else text
    assert operation("rename", "customerId", "customer") == {
        "op": "move",
        "from": "/customerId",
        "path": "/customer",
    }
    assert operation("remove", "shipping.postcode") == {
        "op": "remove",
        "path": "/shipping/postcode",
    }
    with pytest.raises(PatchError):
        operation("rename", "customerId", "a.b")
    with pytest.raises(PatchError):
        operation("frobnicate", "customerId")


def test_set_rename_remove_applied_to_a_message():
    patch = patch_from_operations(
        [
            operation("set", "shipping.method", "EXPRESS"),
            operation("rename", "customerId", "customer"),
            operation("remove", "shipping.postcode"),
        ]
    )
    result = fix_message(_message(_order()), patch)
    assert result.ok, result.error
    fixed = json.loads(result.body)
    expected = _order()
    expected["shipping"]["method"] = "EXPRESS"
    expected["customer"] = expected.pop("customerId")
    del expected["shipping"]["postcode"]
    assert fixed == expected


def test_unusable_patches_are_refused_with_a_hint():
    for text, words in (
        ("{not json", "not JSON"),
        ('{"op": "add"}', "non-empty list"),
        ("[]", "non-empty list"),
        ('[{"op": "add", "path": "/a"}]', '"value"'),
        ('[{"op": "move", "path": "/a"}]', '"from"'),
        ('[{"op": "frob", "path": "/a"}]', "Unknown operation"),
        ('[{"op": "remove", "path": "a"}]', "start with /"),
    ):
        with pytest.raises(PatchError) as caught:
            parse_patch(text)
        assert words in str(caught.value), (text, str(caught.value))
        assert "RFC 6902" in caught.value.hint


def test_layout_is_kept_compact_or_indented():
    patch = parse_patch('[{"op": "replace", "path": "/currency", "value": "SEK"}]')
    compact = fix_message(_message(_order()), patch)
    assert b"\n" not in compact.body and b'"currency":"SEK"' in compact.body
    indented = fix_message(_message(_order(), indent=2), patch)
    assert b'\n  "currency": "SEK"' in indented.body


def test_failures_are_reported_and_kept_out():
    messages = [
        _message(_order(lines=2), 0),
        _message(_order(lines=1), 1),  # removing its only line breaks minItems
        Message("orders-dlq", "m-2", b"\x1f\x8b\x08\x00binary"),  # not JSON at all
        _message({"no": "lines"}, 3),  # the patch itself fails: no /lines/0
        _message(_order(lines=3), 4),
    ]
    patch = parse_patch('[{"op": "remove", "path": "/lines/0"}]')
    plan = fix_all(messages, patch, ORDER_SCHEMA)
    assert [r.message.id for r in plan.fixed] == ["m-0", "m-4"]
    errors = {r.message.id: r.error for r in plan.failed}
    assert set(errors) == {"m-1", "m-2", "m-3"}
    assert errors["m-1"].startswith("invalid against order.schema.json: $.lines:")
    assert errors["m-2"].startswith("not JSON")
    assert errors["m-3"].startswith("patch failed:")
    edits = plan.edits()
    assert set(edits) == {"m-0", "m-4"}
    assert json.loads(edits["m-4"].body)["lines"] == _order(lines=3)["lines"][1:]
    assert all(edit.headers is None for edit in edits.values())
    # Without a schema only the patch decides.
    assert {r.message.id for r in fix_all(messages, patch).fixed} == {"m-0", "m-1", "m-4"}


# -- end to end on SQS ---------------------------------------------------------------------


@pytest.fixture
def seeded(sqs: SqsSettings) -> dict[str, str]:
    """orders-dlq: 12 dead letters moved by redrive from orders (which keeps 4 live ones)."""
    return seed_sqs(
        endpoint_url=sqs.endpoint_url,
        region=sqs.region,
        prefix=f"t-fix-{uuid.uuid4().hex[:8]}",
        count=12,
    )


def _expected_fix(body: bytes) -> dict[str, Any] | None:
    """What the patch below should make of a seeded order, worked out without jsonpatch."""
    document = copy.deepcopy(json.loads(body))
    document["shipping"]["method"] = "EXPRESS"
    document["lines"] = document["lines"][1:]
    return document if document["lines"] else None  # an empty list breaks minItems


@pytest.mark.sqs
async def test_bulk_fix_replays_fixed_bodies_and_keeps_invalid_ones_in_the_dlq(
    sqs_connector: SqsConnector, seeded: dict[str, str], sqs_client: Any, journal: Journal
) -> None:
    patch = parse_patch(
        json.dumps(
            [
                {"op": "replace", "path": "/shipping/method", "value": "EXPRESS"},
                {"op": "remove", "path": "/lines/0"},
            ]
        )
    )
    async with sqs_connector.browse(seeded["orders_dlq"]) as browser:
        letters = []
        while True:
            page = await browser.next_page(timeout=30)
            letters.extend(page.messages)
            if not page.more:
                break
        assert len(letters) == 12
        expected = {m.id: _expected_fix(m.body) for m in letters}
        plan = fix_all(letters, patch, ORDER_SCHEMA)
        assert {r.message.id for r in plan.fixed} == {i for i, e in expected.items() if e}
        assert plan.fixed and plan.failed, "the seed should give both outcomes"
        result = await replay(
            sqs_connector,
            browser,
            [r.message for r in plan.fixed],
            sqs_connector,
            None,
            options=ReplayOptions(),
            journal=journal,
            edits=plan.edits(),
        )
    assert result.ok, result

    left = drain_queue(sqs_client, seeded["orders_dlq"])
    assert sorted(m["MessageId"] for m in left) == sorted(r.message.id for r in plan.failed)
    originals = {m.id: m.body for m in letters}
    for message in left:  # kept out, and untouched
        assert message["Body"].encode() == originals[message["MessageId"]]
    arrived = [
        m
        for m in drain_queue(sqs_client, seeded["orders"])
        if ORIGINAL_ID_HEADER in m["MessageAttributes"]
    ]
    assert len(arrived) == len(plan.fixed)
    for message in arrived:
        source_id = message["MessageAttributes"][ORIGINAL_ID_HEADER]["StringValue"]
        assert json.loads(message["Body"]) == expected[source_id]

    record = journal.action(result.action_id)
    assert record is not None and record.options["edited_messages"] == len(plan.fixed)
    for planned in record.messages:
        assert planned.state == "settled"
        assert planned.payload_sha256 == payload_sha256(originals[planned.source_id])
        assert json.loads(planned.edited_body) == expected[planned.source_id]


def test_a_test_operation_picks_the_messages_it_fixes():
    patch = parse_patch(
        '[{"op": "test", "path": "/currency", "value": "EUR"},'
        ' {"op": "replace", "path": "/currency", "value": "SEK"}]'
    )
    plan = fix_all([_message(_order(), 0), _message(_order(currency="USD"), 1)], patch)
    assert [r.message.id for r in plan.fixed] == ["m-0"]
    assert plan.failed[0].error.startswith("patch failed:")


@pytest.mark.parametrize(
    ("levels", "error"),
    [
        (600, "nested too deeply to patch"),
        (5000, "not JSON: Not usable as JSON: nesting too deep."),
    ],
)
def test_deeply_nested_bodies_fail_with_a_reason_not_a_crash(levels, error):
    patch = parse_patch('[{"op": "replace", "path": "/a", "value": 2}]')
    deep = Message("orders-dlq", "m-deep", b'{"a":' * levels + b"1" + b"}" * levels)
    assert fix_message(deep, patch).error == error
