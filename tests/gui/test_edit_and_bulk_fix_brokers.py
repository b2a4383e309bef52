"""Edit and bulk fix from the main window against the real local RabbitMQ.

The DLQ is filled by the broker's own dead-lettering (tests/seed). The window is driven as an
operator drives it: select, F2 or the detail's Edit… button, type, Replay edited…, the wizard.
"""

from __future__ import annotations

import json

import pytest
from eventdesk.connectors.journal import Journal, payload_sha256
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER
from eventdesk.connectors.schemas import sample_schema_path
from eventdesk.gui.main_window import MainWindow

from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver
from .endpoints import open_loaded

pytestmark = pytest.mark.rabbitmq
SEEDED = 24  # rabbitmq_seed's DLQ


def _open_dlq(driver: LoopDriver, window: MainWindow, dlq: str) -> None:
    open_loaded(driver, window, "RabbitMQ", dlq, SEEDED, timeout=30)
    window.detail.schemas.map_file(dlq, sample_schema_path("order.schema.json"))


def _held_ids(window: MainWindow) -> set[str]:
    model = window.browser.model
    return {model.message_at(row).id for row in range(model.loaded_count)}


def _first_json_row(window: MainWindow) -> int:
    model = window.browser.model
    return next(r for r in range(model.loaded_count) if model.message_at(r).body[:1] == b"{")


def test_edit_validate_and_replay_the_edited_copy(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq, source = rabbitmq_seed["dlq"], rabbitmq_seed["source"]
    window = open_window(rabbitmq_profile)
    _open_dlq(driver, window, dlq)
    window.browser.select_rows([_first_json_row(window)])
    (message,) = window.selected_messages()
    assert window.edit_action.isEnabled()
    # Offered in the table's right-click menu as well.
    context = window.browser.table.actions()
    assert window.edit_action in context and window.bulk_fix_action in context

    window.edit_action.trigger()  # F2
    editor = window.message_editor
    assert editor is not None and editor.isVisible() and editor.message.id == message.id
    editor.format_json()
    pretty = editor.body_text()
    assert '"method": "STANDARD"' in pretty
    editor.editor.setPlainText(pretty.replace('"STANDARD"', '"EXPRES"'))
    check = editor.validate_now()
    method_line = pretty.splitlines().index('    "method": "STANDARD"') + 1
    assert not check.ok and check.line == method_line
    assert "$.shipping.method" in editor.validity_label.text()
    assert editor.marked_line == method_line
    assert not editor.replay_button.isEnabled()
    edited = pretty.replace('"STANDARD"', '"EXPRESS"')
    editor.editor.setPlainText(edited)
    assert editor.validate_now().ok and editor.replay_button.isEnabled()

    editor.replay_button.click()
    wizard = window.replay_wizard
    assert wizard is not None and wizard.isVisible()
    assert wizard.edits[message.id].body == edited.encode()
    assert "1 edited" in wizard.summary_page.title()
    for _ in range(3):
        wizard.next()
    preview = wizard.preview_page.preview_edit.toPlainText()
    assert f"{message.id} (edited)" in preview and '"EXPRESS"' in preview
    # Cancelled before the commit: nothing is sent and the dead letter stays as it was.
    wizard.reject()
    driver.settle()
    assert message.id in _held_ids(window)
    sent = [
        m
        for m in driver.run(drain_queue(**rabbitmq.credentials(), queue=source))
        if ORIGINAL_ID_HEADER in m.headers
    ]
    assert sent == []

    # Again, from the detail view's Edit… button, and this time confirmed.
    row = _first_json_row(window)
    window.browser.table.setCurrentIndex(window.browser.model.index(row, 0))  # a click
    assert window.detail.message.id == message.id
    window.detail.body_tab.edit_button.click()
    editor = window.message_editor
    editor.editor.setPlainText(edited)
    assert editor.validate_now().ok
    editor.replay_button.click()
    wizard = window.replay_wizard
    wizard.jump_to_confirm()
    assert "Edited copies: 1;" in wizard.confirm_page.summary_label.text()
    wizard.next()
    driver.wait_signal(wizard.finished_replay, timeout=30)
    assert wizard.result is not None and wizard.result.ok, wizard.result
    wizard.accept()
    model = window.browser.model
    driver.until(
        lambda: model.browser is not None and not model.is_loading and model.loaded_count > 0,
        timeout=30,
        message="the DLQ to be opened again",
    )
    assert message.id not in _held_ids(window)

    window.close()
    driver.run(window.wait_closed())
    arrived = [
        m
        for m in driver.run(drain_queue(**rabbitmq.credentials(), queue=source))
        if ORIGINAL_ID_HEADER in m.headers
    ]
    assert [(str(m.headers[ORIGINAL_ID_HEADER]), m.body) for m in arrived] == [
        (message.id, edited.encode())
    ]
    left = driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))
    assert len(left) == SEEDED - 1 and message.id not in {m.message_id for m in left}
    with Journal.open() as journal:
        (planned,) = journal.action(wizard.result.action_id).messages
    assert planned.state == "settled" and planned.edited_body == edited.encode()
    assert planned.payload_sha256 == payload_sha256(message.body)


def _expected_fix(body: bytes) -> dict | None:
    """The seeded order with its first line removed, or None when that cannot pass."""
    try:
        document = json.loads(body)
    except ValueError:
        return None  # the gzip-compressed one
    document["lines"] = document["lines"][1:]
    return document if document["lines"] else None  # minItems: 1


def test_bulk_fix_replays_the_fixed_and_keeps_the_rest_in_the_dlq(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq, source = rabbitmq_seed["dlq"], rabbitmq_seed["source"]
    window = open_window(rabbitmq_profile)
    _open_dlq(driver, window, dlq)
    window.browser.select_rows(list(range(SEEDED)))
    letters = window.selected_messages()
    expected = {m.id: _expected_fix(m.body) for m in letters}
    should_fix = {i for i, e in expected.items() if e is not None}
    assert should_fix and len(should_fix) < SEEDED

    window.bulk_fix_action.trigger()  # Ctrl+B
    dialog = window.bulk_fix_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.add_operation("remove", "lines.0")
    dialog.preview()
    (plan,) = driver.wait_signal(dialog.previewed, timeout=30)
    assert {r.message.id for r in plan.fixed} == should_fix
    reasons = {r.error.split(":")[0] for r in plan.failed}
    assert reasons == {"not JSON", "invalid against order.schema.json"}
    dialog.replay_button.click()
    wizard = window.replay_wizard
    assert wizard is not None and {m.id for m in wizard.messages} == should_fix
    wizard.jump_to_confirm()
    wizard.next()
    driver.wait_signal(wizard.finished_replay, timeout=60)
    assert wizard.result is not None and wizard.result.ok, wizard.result
    wizard.accept()
    driver.settle()

    window.close()
    driver.run(window.wait_closed())
    arrived = [
        m
        for m in driver.run(drain_queue(**rabbitmq.credentials(), queue=source))
        if ORIGINAL_ID_HEADER in m.headers
    ]
    assert sorted(str(m.headers[ORIGINAL_ID_HEADER]) for m in arrived) == sorted(should_fix)
    for copy in arrived:
        assert json.loads(copy.body) == expected[str(copy.headers[ORIGINAL_ID_HEADER])]
    left = driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))
    originals = {m.id: m.body for m in letters}
    assert sorted(m.message_id for m in left) == sorted(set(originals) - should_fix)
    assert all(m.body == originals[m.message_id] for m in left)
