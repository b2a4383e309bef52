"""MessageEditorDialog and BulkFixDialog on their own: validation, markers, undo, diff, refusals."""

from __future__ import annotations

import gzip
import json

import pytest
from eventdesk.connectors.model import Message
from eventdesk.connectors.schemas import load_schema, sample_schema_path
from eventdesk.gui.bulk_fix_dialog import BulkFixDialog
from eventdesk.gui.diff_widget import side_by_side
from eventdesk.gui.json_path_locator import line_of_path
from eventdesk.gui.message_editor_dialog import MessageEditorDialog
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .conftest import LoopDriver

ORDER_SCHEMA = load_schema(sample_schema_path("order.schema.json"))
ORDER = {
    "orderId": "ORD-2025-100001",
    "customerId": "CUST-1042",
    "placedAt": "2025-06-02T09:01:17Z",
    "currency": "EUR",
    "lines": [{"sku": "SKU-10442", "quantity": 2, "unitPrice": "4.99"}],
    "total": "9.98",
    "shipping": {"country": "DE", "postcode": "10115", "method": "STANDARD"},
}
PRETTY = json.dumps(ORDER, indent=2)


def _message(body: bytes, *, headers=()) -> Message:
    return Message("orders.dlq", "m-1", body, headers=tuple(headers))


@pytest.fixture
def open_editor(qtbot):
    def open_(message: Message, **kwargs) -> MessageEditorDialog:
        dialog = MessageEditorDialog(message, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return open_


def test_an_invalid_edit_is_marked_on_its_line_and_cannot_be_replayed(qtbot, open_editor):
    dialog = open_editor(_message(PRETTY.encode()), schema=ORDER_SCHEMA)
    assert dialog.validity_label.text() == "Valid against order.schema.json"
    assert not dialog.replay_button.isEnabled()  # nothing changed yet
    broken = PRETTY.replace('"quantity": 2', '"quantity": 0')
    dialog.editor.setPlainText(broken)
    # Live: the check runs by itself shortly after typing stops.
    qtbot.waitUntil(lambda: "minimum" in dialog.validity_label.text(), timeout=2000)
    line = broken.splitlines().index('      "quantity": 0,') + 1
    assert dialog.validity_label.text().startswith(f"Line {line}: $.lines[0].quantity:")
    assert dialog.marked_line == line
    assert not dialog.replay_button.isEnabled()
    assert "Fix the body first" in dialog.replay_button.toolTip()

    dialog.editor.setPlainText(PRETTY.replace('"quantity": 2', '"quantity": 3'))
    qtbot.waitUntil(lambda: dialog.validity_label.text().startswith("Valid"), timeout=2000)
    assert dialog.marked_line is None
    assert dialog.replay_button.isEnabled()


def test_malformed_json_is_marked_where_the_parser_stopped(qtbot, open_editor):
    dialog = open_editor(_message(b'{"a": 1,\n "b": 2\n}'))
    dialog.editor.setPlainText('{"a": 1,\n "b": 2,\n}')
    check = dialog.validate_now()
    assert not check.ok and check.line == 3
    assert dialog.validity_label.text().startswith("Line 3: not valid JSON")
    assert dialog.marked_line == 3


def test_json_paths_are_found_in_text_as_the_operator_wrote_it():
    text = '{"a": {"b c": [1,\n {"d": \n  5}]}, "e": "x"}'
    assert line_of_path(text, "$") == 1
    assert line_of_path(text, "$.a['b c'][1].d") == 3
    assert line_of_path(text, "$.e") == 3
    assert line_of_path(text, "$.missing") is None
    assert line_of_path("{broken", "$.a") is None


def test_undo_and_redo_typed_edits_and_formatting(qtbot, open_editor):
    body = json.dumps(ORDER, separators=(",", ":")).encode()
    dialog = open_editor(_message(body), schema=ORDER_SCHEMA)
    assert not dialog.undo_button.isEnabled()
    dialog.format_json()
    assert dialog.body_text() == PRETTY
    cursor = dialog.editor.textCursor()
    cursor.setPosition(dialog.body_text().index("STANDARD"))
    cursor.movePosition(cursor.MoveOperation.Right, cursor.MoveMode.KeepAnchor, len("STANDARD"))
    dialog.editor.setTextCursor(cursor)
    QTest.keyClicks(dialog.editor, "EXPRESS")
    edited = PRETTY.replace("STANDARD", "EXPRESS")
    assert dialog.body_text() == edited
    assert dialog.undo_button.isEnabled()

    dialog.undo_button.click()
    assert dialog.body_text() == PRETTY
    dialog.redo_button.click()
    assert dialog.body_text() == edited
    dialog.undo_button.click()
    dialog.undo_button.click()  # the formatting was one step of its own
    assert dialog.body_text() == body.decode()
    assert dialog.edit() is None  # back to the original: nothing to replay
    assert dialog.edited_body() == body


def test_the_diff_shows_original_and_edited_side_by_side(qtbot, open_editor):
    dialog = open_editor(_message(PRETTY.encode(), headers=[("trace", b"t-1")]))
    dialog.refresh_diff()
    assert dialog.diff.summary_label.text() == "No changes."
    dialog.editor.setPlainText(PRETTY.replace('"EUR"', '"SEK"'))
    dialog.headers_editor.table.item(0, 1).setText("t-2")
    dialog.tabs.setCurrentWidget(dialog.diff)  # switching to the tab refreshes it
    changed = [row for row in dialog.diff.rows if row.tag != "equal"]
    assert [(row.left, row.right) for row in changed] == [
        ("trace: t-1", "trace: t-2"),
        ('  "currency": "EUR",', '  "currency": "SEK",'),
    ]
    assert dialog.diff.summary_label.text() == "2 lines differ"
    left = dialog.diff.left_view.toPlainText().splitlines()
    right = dialog.diff.right_view.toPlainText().splitlines()
    assert len(left) == len(right) and '  "currency": "SEK",' in right
    assert len(dialog.diff.right_view.extraSelections()) == 2


def test_side_by_side_pads_inserted_and_deleted_lines():
    rows = side_by_side("a\nb\nc", "a\nc\nd")
    assert [(r.left, r.right, r.tag) for r in rows] == [
        ("a", "a", "equal"),
        ("b", None, "delete"),
        ("c", "c", "equal"),
        (None, "d", "insert"),
    ]


def test_a_binary_body_is_refused_for_text_editing_and_shown_as_hex(qtbot, open_editor):
    body = gzip.compress(json.dumps(ORDER).encode(), mtime=0)
    dialog = open_editor(_message(body, headers=[("content-encoding", "gzip")]))
    assert dialog.refusal_label.isVisible()
    assert dialog.refusal_label.text().startswith("Binary body (not UTF-8 text)")
    assert dialog.editor.isReadOnly()
    assert dialog.body_text().startswith("00000000  1f 8b 08")
    assert dialog.tabs.tabText(0) == "Body (hex, read-only)"
    assert not dialog.format_button.isEnabled()
    # Headers can still be edited; the body then goes exactly as it was.
    dialog.headers_editor.add_row("fixed-by", "operator")
    edit = dialog.edit()
    assert edit is not None and edit.body == body
    assert edit.headers == (("content-encoding", "gzip"), ("fixed-by", "operator"))


def test_text_the_editor_would_alter_is_refused(qtbot, open_editor):
    dialog = open_editor(_message(b'{"a":\r\n 1}'))
    assert "carriage returns" in dialog.refusal_label.text()
    assert dialog.editor.isReadOnly() and dialog.edit() is None


def test_header_edits_keep_untouched_values_as_they_were(qtbot, open_editor):
    headers = [("trace", b"t-1"), ("attempt", 3), ("x-death", [{"count": 1}]), ("raw", b"\xff")]
    dialog = open_editor(_message(b"plain text body", headers=headers))
    table = dialog.headers_editor.table
    assert not table.item(2, 1).flags() & Qt.ItemFlag.ItemIsEditable  # an AMQP table
    assert not table.item(3, 1).flags() & Qt.ItemFlag.ItemIsEditable  # not UTF-8
    table.item(1, 1).setText("4")
    table.selectRow(0)
    dialog.headers_editor.remove_button.click()
    assert dialog.edit().headers == (
        ("attempt", "4"),
        ("x-death", [{"count": 1}]),
        ("raw", b"\xff"),
    )
    assert dialog.edit().body == b"plain text body"
    assert dialog.tabs.tabText(1) == "Headers (3)"


def test_replay_edited_hands_over_the_edit(qtbot, open_editor):
    dialog = open_editor(_message(PRETTY.encode()), schema=ORDER_SCHEMA)
    edited = PRETTY.replace("STANDARD", "PICKUP")
    dialog.editor.setPlainText(edited)
    with qtbot.waitSignal(dialog.replay_requested) as fired:
        dialog.replay_button.click()
    messages, edits = fired.args
    assert [m.id for m in messages] == ["m-1"]
    assert edits["m-1"].body == edited.encode() and edits["m-1"].headers is None
    assert not dialog.isVisible()


def test_bulk_fix_builds_a_patch_previews_and_keeps_failures_out(qtbot, driver: LoopDriver):
    one_line = {**ORDER}
    two_lines = {**ORDER, "lines": ORDER["lines"] * 2}
    messages = [
        Message("orders.dlq", f"m-{n}", json.dumps(doc).encode())
        for n, doc in enumerate([two_lines, one_line, two_lines])
    ]
    dialog = BulkFixDialog(messages, schema=ORDER_SCHEMA)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.add_operation("rename", "lines..x", "y")
    assert dialog.error_label.isVisible() and "Empty field name" in dialog.error_label.text()
    assert dialog.add_operation("set", "shipping.method", "EXPRESS")
    assert dialog.add_operation("remove", "lines.0")
    assert json.loads(dialog.patch_edit.toPlainText()) == [
        {"op": "add", "path": "/shipping/method", "value": "EXPRESS"},
        {"op": "remove", "path": "/lines/0"},
    ]
    assert not dialog.replay_button.isEnabled()

    dialog.preview()
    (plan,) = driver.wait_signal(dialog.previewed)
    assert [r.message.id for r in plan.fixed] == ["m-0", "m-2"]
    assert dialog.summary_label.text() == "2 fixed · 1 fail and are kept out"
    assert dialog.failures_edit.toPlainText().startswith("m-1: invalid against order.schema.json")
    assert dialog.results_table.item(1, 1).text().startswith("invalid")
    changed = [r for r in dialog.diff.rows if r.tag != "equal"]  # the first row's diff
    assert any(r.left and "STANDARD" in r.left for r in changed)
    assert any(r.right and "EXPRESS" in r.right for r in changed)
    assert dialog.replay_button.isEnabled()

    dialog.patch_edit.appendPlainText(" ")  # a changed patch needs a new preview
    assert not dialog.replay_button.isEnabled()
    dialog.patch_edit.setPlainText("[{]")
    dialog.preview()
    assert "not JSON" in dialog.error_label.text()


def test_header_changes_undo_and_redo_on_the_headers_tab(qtbot, open_editor):
    headers = (("trace", "t-1"), ("attempt", 3))
    dialog = open_editor(_message(PRETTY.encode(), headers=headers))
    dialog.tabs.setCurrentWidget(dialog.headers_editor)
    table = dialog.headers_editor.table
    assert not dialog.undo_button.isEnabled()
    table.item(0, 1).setText("t-2")
    dialog.headers_editor.add_row("fixed-by", "operator")
    table.selectRow(1)
    dialog.headers_editor.remove_button.click()
    after = (("trace", "t-2"), ("fixed-by", "operator"))
    assert dialog.edit().headers == after
    assert dialog.undo_button.isEnabled() and dialog.replay_button.isEnabled()

    dialog.undo_button.click()  # the removal
    assert dialog.headers_editor.headers() == (("trace", "t-2"), ("attempt", 3), after[1])
    dialog.undo_button.click()  # the added row
    dialog.undo_button.click()  # the edited value
    assert dialog.headers_editor.headers() == headers
    assert dialog.edit() is None and not dialog.replay_button.isEnabled()
    assert not dialog.undo_button.isEnabled() and dialog.redo_button.isEnabled()
    for _ in range(3):
        dialog.redo_button.click()
    assert dialog.edit().headers == after
    # The body keeps its own history: on the body tab Undo has nothing to undo.
    dialog.tabs.setCurrentWidget(dialog.editor)
    assert not dialog.undo_button.isEnabled()


def test_where_replay_is_not_possible_the_editor_says_so(qtbot, open_editor):
    dialog = open_editor(_message(PRETTY.encode()), can_replay=False)
    dialog.editor.setPlainText(PRETTY.replace("STANDARD", "PICKUP"))
    dialog.validate_now()
    assert not dialog.replay_button.isEnabled()
    assert "read-only" in dialog.replay_button.toolTip()
