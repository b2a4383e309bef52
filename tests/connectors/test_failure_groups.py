"""Failure groups: one signature per way of failing, variable parts masked."""

from __future__ import annotations

from datetime import UTC, datetime

from eventdesk.connectors.failure_groups import (
    NO_FACTS,
    failure_signature,
    group_failures,
    mask_variables,
)
from eventdesk.connectors.model import DeadLetterFacts, Message


def _letter(
    id_: str,
    *,
    exception: str | None = None,
    text: str | None = None,
    reason: str | None = None,
    source: str = "orders",
    endpoint: str = "orders.dlq",
    at: datetime | None = None,
    body: bytes = b"{}",
) -> Message:
    facts = DeadLetterFacts(
        convention="test",
        exception_type=exception,
        exception_message=text,
        reason=reason,
        original_destination=source,
        last_failure=at,
    )
    return Message(endpoint, id_, body, dead_letter=facts)


def test_masking_keeps_the_words_and_drops_the_values() -> None:
    assert mask_variables("Order ORD-2025-100003 not found") == "Order <id> not found"
    assert mask_variables("Read timed out after 3000 ms") == "Read timed out after <n> ms"
    assert (
        mask_variables("user 9f1c2d3e-1111-2222-3333-444455556666 missing") == "user <uuid> missing"
    )
    assert mask_variables("field 'customerId' is required") == "field <value> is required"
    assert mask_variables("Insufficient stock for SKU-USB-C-HUB") == (
        "Insufficient stock for SKU-USB-C-HUB"
    )


def test_signature_prefers_the_exception_and_falls_back_to_the_reason() -> None:
    assert (
        failure_signature(_letter("1", exception="java.lang.IllegalStateException", text="No 42"))
        == "java.lang.IllegalStateException: No <n>"
    )
    assert failure_signature(_letter("2", reason="rejected")) == "reason: rejected"
    assert failure_signature(Message("q", "3", b"")) == NO_FACTS


def test_groups_count_bytes_times_and_sources_largest_first() -> None:
    t1, t2, t3 = (datetime(2026, 11, 27, 10, m, tzinfo=UTC) for m in (1, 2, 3))
    letters = [
        _letter("a", exception="x.NotFound", text="Order ORD-1 not found", at=t2, body=b"12345"),
        _letter("b", reason="expired", source="payments", at=t1),
        _letter("c", exception="x.NotFound", text="Order ORD-22 not found", at=t1, body=b"123"),
        _letter("d", exception="x.NotFound", text="Order ORD-333 not found", at=t3, source="o2"),
        _letter("e", reason="expired", endpoint="payments.dlq", at=t3),
        _letter("f", exception="x.Timeout", text="after 30 s"),
    ]
    groups = group_failures(letters)
    assert [(g.label, g.count) for g in groups] == [
        ("NotFound: Order <id> not found", 3),
        ("expired", 2),
        ("Timeout: after <n> s", 1),
    ]
    found = groups[0]
    assert found.message_ids == ("a", "c", "d")
    assert found.sample_ids(2) == ("a", "c")
    assert found.bytes == 5 + 3 + 2
    assert (found.first_seen, found.last_seen) == (t1, t3)
    assert found.sources == ("orders", "o2")
    assert groups[1].endpoints == ("orders.dlq", "payments.dlq")
    assert groups[2].first_seen is None and groups[2].last_seen is None


def test_no_messages_no_groups() -> None:
    assert group_failures([]) == []
