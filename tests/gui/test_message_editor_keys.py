"""MessageEditorDialog: the keyboard undoes header edits, and Kafka keys can be edited."""

from __future__ import annotations

import pytest
from eventdesk.connectors.model import Message
from eventdesk.gui.message_editor_dialog import MessageEditorDialog
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.seed.kafka import fill_topic

from .conftest import LoopDriver


def _open(qtbot, message: Message, **kwargs) -> MessageEditorDialog:
    dialog = MessageEditorDialog(message, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_ctrl_z_in_the_headers_table_undoes_header_edits(qtbot):
    headers = (("trace", "t-1"), ("attempt", "3"))
    dialog = _open(qtbot, Message("orders.dlq", "m-1", b'{"a": 1}', headers=headers))
    dialog.tabs.setCurrentWidget(dialog.headers_editor)
    table = dialog.headers_editor.table
    table.item(0, 1).setText("t-2")
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)

    QTest.keyClick(table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dialog.headers_editor.headers() == headers
    QTest.keyClick(
        table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert dialog.headers_editor.headers() == (("trace", "t-2"), ("attempt", "3"))


def test_a_kafka_key_is_editable_and_carried_into_replay_edited(qtbot):
    message = Message("orders.DLT", "0:7", b'{"a": 1}', key=b"ORD-1")
    dialog = _open(qtbot, message, key_editable=True)
    assert dialog.key_edit.isVisible() and dialog.key_edit.text() == "ORD-1"
    assert dialog.edit() is None and not dialog.replay_button.isEnabled()

    dialog.key_edit.setText("ORD-2")
    assert dialog.edited_key() == b"ORD-2"
    with qtbot.waitSignal(dialog.replay_requested) as fired:
        dialog.replay_button.click()
    _messages, edits = fired.args
    assert edits["0:7"].key == b"ORD-2" and edits["0:7"].body == message.body
    dialog.key_edit.setText("ORD-1")
    assert dialog.edit() is None


def test_a_binary_key_is_kept_byte_for_byte(qtbot):
    message = Message("orders.DLT", "0:8", b"{}", key=b"\x00\xff\x10")
    dialog = _open(qtbot, message, key_editable=True)
    assert dialog.key_edit.isReadOnly() and dialog.key_edit.text() == "0x 00 ff 10"
    assert dialog.edited_key() == b"\x00\xff\x10"


def test_other_brokers_show_no_key_field(qtbot):
    dialog = _open(qtbot, Message("orders.dlq", "m-1", b"{}"))
    assert not dialog.key_edit.isVisible() and not dialog.key_changed()


@pytest.mark.kafka
def test_the_window_offers_the_key_of_a_real_kafka_dead_letter(
    driver: LoopDriver, open_window, kafka_bootstrap: str, kafka_profile, kafka_topics, unique_name
):
    topic = f"{unique_name}.DLT"
    kafka_topics.append(topic)
    driver.run(fill_topic(kafka_bootstrap, topic, 3, 256), timeout=60)
    window = open_window(kafka_profile)
    driver.until(lambda: topic in window.tree.visible_endpoints("Kafka"), timeout=30)
    assert window.open_endpoint_named("Kafka", topic)
    driver.until(lambda: window.browser.model.loaded_count == 3, timeout=30)
    window.browser.select_row(2)

    dialog = window.open_message_editor(window.detail.message)
    assert dialog.key_edit.isVisible() and dialog.key_edit.text() == "ORD-00000002"
    dialog.key_edit.setText("ORD-00000002-fixed")
    assert dialog.edited_key() == b"ORD-00000002-fixed"
    dialog.reject()
