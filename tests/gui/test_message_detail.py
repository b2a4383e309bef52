"""MessageDetailWidget: bodies of every shape, headers, and the dead-letter facts."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from eventdesk.connectors.model import NO_DEAD_LETTER_FACTS, DeadLetterFacts, Message
from eventdesk.gui.body_rendering import HEX_LIMIT, TEXT_LIMIT
from eventdesk.gui.message_detail import (
    NO_DEAD_LETTER_TEXT,
    NO_MESSAGE_TEXT,
    MessageDetailWidget,
)


@pytest.fixture
def detail(qtbot) -> MessageDetailWidget:
    widget = MessageDetailWidget()
    widget.resize(900, 600)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _message(body: bytes, **changes) -> Message:
    return replace(Message(endpoint="orders.DLT", id="0:7", body=body), **changes)


def test_empty_state_until_a_message_is_shown(detail: MessageDetailWidget):
    assert detail.stack.currentWidget() is detail.empty
    assert detail.empty.text() == NO_MESSAGE_TEXT


def test_json_is_pretty_printed_and_highlighted(qtbot, detail: MessageDetailWidget):
    detail.show_message(_message(b'{"orderId":"ORD-1","lines":[{"qty":2}],"paid":false}'))

    assert detail.body_text().startswith('{\n  "orderId": "ORD-1",\n  "lines": [\n')
    assert detail.body_tab.kind_label.text() == "JSON · 52 B"
    assert detail.body_tab._highlighter.document() is detail.body_tab.editor.document()
    # The highlighter really coloured the key on the second line (it runs on the next turn).
    block = detail.body_tab.editor.document().findBlockByNumber(1)
    qtbot.waitUntil(lambda: bool(block.layout().formats()))
    key = block.layout().formats()[0]
    assert (key.start, key.length) == (2, len('"orderId"'))


def test_plain_text_stays_text(detail: MessageDetailWidget):
    detail.show_message(_message("Zahlung abgelehnt: Konto gesperrt ✓".encode()))

    assert detail.body_text() == "Zahlung abgelehnt: Konto gesperrt ✓"
    assert detail.body_tab.kind_label.text().startswith("Text")
    assert detail.body_tab._highlighter.document() is None


def test_invalid_utf8_is_a_hex_dump(detail: MessageDetailWidget):
    detail.show_message(_message(b"\x1f\x8b\x08\x00\xff\xfe" + b"ok"))

    assert detail.body_text() == ("00000000  1f 8b 08 00 ff fe 6f 6b" + " " * 27 + "|......ok|")
    assert detail.body_tab.kind_label.text() == "Binary · 8 B"
    assert detail.body_tab.note_label.isVisible()


def test_ten_megabyte_bodies_are_truncated_not_frozen(detail: MessageDetailWidget):
    huge_json = json.dumps({"blob": "x" * (10 * 1024 * 1024)}).encode()
    huge_binary = bytes(range(256)) * (10 * 1024 * 1024 // 256)

    started = time.perf_counter()
    detail.show_message(_message(huge_json))
    json_seconds = time.perf_counter() - started
    assert len(detail.body_text()) <= TEXT_LIMIT
    assert "Showing the first 256.0 KiB of 10.0 MiB" in detail.body_tab.note_label.text()

    started = time.perf_counter()
    detail.show_message(_message(huge_binary))
    binary_seconds = time.perf_counter() - started
    assert detail.body_text().count("\n") == HEX_LIMIT // 16 - 1
    assert "first 64.0 KiB of 10.0 MiB" in detail.body_tab.note_label.text()

    assert json_seconds < 1 and binary_seconds < 1, (json_seconds, binary_seconds)


def test_headers_are_rendered_with_header_text(detail: MessageDetailWidget):
    detail.show_message(
        _message(
            b"{}",
            headers=(
                ("kafka_dlt-original-topic", b"orders"),
                ("kafka_dlt-exception-stacktrace", b"java.lang.X: boom\n\tat a.B.c(B.java:1)"),
                ("x-retries", 3),
            ),
        )
    )
    table = detail.headers_tab.table

    assert detail.tabs.tabText(1) == "Headers (3)"
    assert [table.item(r, 0).text() for r in range(3)] == [
        "kafka_dlt-original-topic",
        "kafka_dlt-exception-stacktrace",
        "x-retries",
    ]
    assert table.item(0, 1).text() == "orders"
    assert table.item(2, 1).text() == "3"
    # Multi-line values stay on one line in the table; selecting shows all of it.
    assert "\n" not in table.item(1, 1).text()
    table.selectRow(1)
    assert detail.headers_tab.value_view.toPlainText().endswith("\tat a.B.c(B.java:1)")


def test_dead_letter_facts_fill_the_form(detail: MessageDetailWidget):
    facts = DeadLetterFacts(
        convention="spring-kafka",
        original_destination="orders",
        original_partition=2,
        original_offset=118,
        reason="rejected",
        exception_type="com.acme.InvalidOrderException",
        exception_message="Order ORD-7 has no customer",
        stack_trace="com.acme.InvalidOrderException: Order ORD-7 has no customer\n\tat x.Y",
        attempts=4,
        first_failure=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        failed_service="order-fulfilment",
        extra={"kafka_dlt-exception-fqcn": "ListenerExecutionFailedException"},
    )
    detail.show_message(_message(b"{}", dead_letter=facts))
    detail.tabs.setCurrentIndex(2)

    assert detail.showing_dead_letter_facts()
    assert detail.fact_text("original_destination") == "orders  (partition 2, offset 118)"
    assert detail.fact_text("reason") == "rejected"
    assert detail.fact_text("exception_type") == "com.acme.InvalidOrderException"
    assert detail.fact_text("attempts") == "4"
    assert detail.fact_text("failed_service") == "order-fulfilment"
    assert detail.fact_text("last_failure") == "—"
    assert detail.fact_text("first_failure").startswith("2025-03-01")
    assert detail.dead_letter_tab.stack_trace.toPlainText().endswith("\tat x.Y")
    assert "ListenerExecutionFailedException" in detail.dead_letter_tab.extra_label.text()


def test_no_dead_letter_metadata_has_its_own_empty_state(detail: MessageDetailWidget):
    detail.show_message(_message(b"{}", dead_letter=NO_DEAD_LETTER_FACTS))
    detail.tabs.setCurrentIndex(2)

    assert not detail.showing_dead_letter_facts()
    assert detail.dead_letter_tab.empty.text() == NO_DEAD_LETTER_TEXT
    assert detail.dead_letter_tab.empty.isVisible()


def test_attributes_are_listed(detail: MessageDetailWidget):
    detail.show_message(_message(b"{}", attributes={"partition": "2", "offset": "118"}))

    table = detail.attributes_table
    assert detail.tabs.tabText(3) == "Attributes (2)"
    assert [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(2)] == [
        ("offset", "118"),
        ("partition", "2"),
    ]
