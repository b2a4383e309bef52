"""The History tab against the real local RabbitMQ: the journal shown, and resume from it.

The interrupted replay is made the way a crash makes one: another process journals the
plan and dies before sending anything.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from eventdesk.connectors.journal import Journal, payload_sha256
from eventdesk.gui.history_view import EMPTY_TEXT
from eventdesk.gui.main_window import MainWindow
from PySide6.QtWidgets import QMessageBox

from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver
from .endpoints import open_loaded
from .replay_checks import assert_replayed_on_the_broker

pytestmark = pytest.mark.rabbitmq

_PLAN_AND_DIE = """
import json, sys
from eventdesk.connectors.journal import Journal, PlannedMessage
plan = json.loads(sys.argv[1])
with Journal.open() as journal:
    record = journal.start_action(
        kind="replay",
        source_connection=plan["connection"],
        source=plan["dlq"],
        target=plan["target"],
        messages=[PlannedMessage(i, h, plan["target"]) for i, h in plan["messages"]],
    )
print(record.id)
"""


def _plan_in_a_process_that_dies(connection: str, dlq: str, target: str, messages) -> str:
    plan = {
        "connection": connection,
        "dlq": dlq,
        "target": target,
        "messages": [[m.id, payload_sha256(m.body)] for m in messages],
    }
    done = subprocess.run(
        [sys.executable, "-c", _PLAN_AND_DIE, json.dumps(plan)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _first_messages(driver: LoopDriver, window: MainWindow, dlq: str, count: int) -> list:
    model = open_loaded(driver, window, "RabbitMQ", dlq, count)
    return [model.message_at(row) for row in range(count)]


def test_empty_history_says_how_actions_get_there(driver: LoopDriver, open_window, sqs_profile):
    window = open_window(sqs_profile)
    window.history_action.trigger()
    assert window.content_tabs.currentWidget() is window.history
    assert window.history.empty_label.isVisibleTo(window)
    assert window.history.empty_label.text() == EMPTY_TEXT
    assert not window.history.resume_button.isEnabled()


def test_interrupted_replay_is_offered_and_resumed_from_the_history_tab(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq, source = rabbitmq_seed["dlq"], rabbitmq_seed["source"]
    window = open_window(rabbitmq_profile)
    chosen = _first_messages(driver, window, dlq, 3)
    action_id = _plan_in_a_process_that_dies("RabbitMQ", dlq, source, chosen)

    history = window.history
    history.reload()
    assert history.unfinished == 1
    tab = window.content_tabs.tabText(window.content_tabs.indexOf(history))
    assert tab == "History (1 to resume)"
    assert history.select(action_id)
    assert history.selected().status == "interrupted"  # its process is gone
    assert history.messages_model.rowCount() == 3
    assert history.resume_button.isEnabled()

    history.resume_button.click()
    box = window.resume_box
    assert box is not None and box.isVisible()
    assert "3 pending" in box.text()
    [resume] = [b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole]
    resume.click()
    driver.until(
        lambda: history.selected() is not None and history.selected().status == "completed",
        timeout=60,
        message="the resumed replay to complete",
    )
    assert history.unfinished == 0
    assert window.content_tabs.tabText(window.content_tabs.indexOf(history)) == "History"
    assert [m.state for m in history.messages_model.messages] == ["settled"] * 3

    assert_replayed_on_the_broker(
        driver, window, rabbitmq, source=source, dlq=dlq, chosen=chosen, left=24 - 3
    )
    with Journal.open() as journal:
        assert journal.action(action_id).status == "completed"


def test_resume_on_a_read_only_connection_is_refused_and_nothing_moves(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq, source = rabbitmq_seed["dlq"], rabbitmq_seed["source"]
    profile = dataclasses.replace(rabbitmq_profile, read_only=True)
    window = open_window(profile)
    chosen = _first_messages(driver, window, dlq, 2)
    action_id = _plan_in_a_process_that_dies("RabbitMQ", dlq, source, chosen)
    window.history.reload()
    assert window.history.select(action_id)

    window.history.resume_button.click()
    assert window.resume_box is None
    assert any("read-only" in text for text in window.error_log.entry_texts())
    with Journal.open() as journal:
        assert journal.action(action_id).status == "interrupted"
    window.close()
    driver.run(window.wait_closed())
    assert len(driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))) == 24
