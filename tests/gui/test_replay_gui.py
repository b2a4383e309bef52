"""Replay and discard from the main window against the real local RabbitMQ.

The DLQ is filled by the broker's own dead-lettering (tests/seed); the window is driven
the way an operator drives it: select rows, Ctrl+R, Next… Replay, Finish.
"""

from __future__ import annotations

import dataclasses

import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.gui.main_window import MainWindow
from PySide6.QtWidgets import QWizard

from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver
from .endpoints import open_loaded, until_reopened
from .replay_checks import assert_replayed_on_the_broker

pytestmark = pytest.mark.rabbitmq


def _open_dlq(driver: LoopDriver, window: MainWindow, dlq: str, rows: int) -> None:
    open_loaded(driver, window, "RabbitMQ", dlq, rows)
    assert not window.replay_action.isEnabled(), "nothing selected yet"
    window.browser.select_rows(list(range(rows)))


def test_replay_wizard_moves_exactly_the_selection_back(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq, source = rabbitmq_seed["dlq"], rabbitmq_seed["source"]
    window = open_window(rabbitmq_profile)
    _open_dlq(driver, window, dlq, 3)
    chosen = window.selected_messages()
    assert len(chosen) == 3
    assert window.replay_action.isEnabled() and window.discard_action.isEnabled()

    window.replay_action.trigger()
    wizard = window.replay_wizard
    assert wizard is not None and wizard.isVisible()
    assert "3" in wizard.summary_page.title()
    assert source in wizard.target_page.original_radio.text()
    wizard.options_page.max_replays_spin.setValue(2)
    wizard.next()  # target
    wizard.next()  # options
    wizard.next()  # preview
    assert wizard.currentId() == wizard.PREVIEW
    preview = wizard.preview_page.preview_edit.toPlainText()
    assert f"target: {source}" in preview
    assert wizard.action_id in preview  # the replay id the copies will carry
    wizard.next()  # confirm
    assert wizard.currentId() == wizard.CONFIRM
    assert not wizard.confirm_page.production_label.isVisibleTo(wizard)
    wizard.next()  # commit: runs the engine
    assert wizard.currentId() == wizard.PROGRESS
    driver.wait_signal(wizard.finished_replay, timeout=20)
    result = wizard.result
    assert result is not None and result.ok, result
    assert result.action_id in wizard.progress_page.status_label.text()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    wizard.accept()
    until_reopened(
        driver,
        window,
        "RabbitMQ",
        dlq,
        empty=False,
        timeout=20,
        message="the endpoint to be opened again",
    )
    remaining_ids = {window.browser.model.message_at(r).id for r in range(21)}
    assert not remaining_ids & {m.id for m in chosen}

    # Give every held message back, then count on the broker itself.
    assert_replayed_on_the_broker(
        driver, window, rabbitmq, source=source, dlq=dlq, chosen=chosen, left=24 - 3
    )

    with Journal.open() as journal:
        (action,) = journal.actions()
        assert action.kind == "replay" and action.status == "completed"
        assert action.id == result.action_id
        outcomes = journal.action(action.id).messages
        assert [o.state for o in outcomes] == ["settled"] * 3


def test_discard_removes_the_selection_and_is_journaled(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    _open_dlq(driver, window, dlq, 2)
    chosen = window.selected_messages()
    window.discard_action.trigger()
    dialog = window.discard_dialog
    assert dialog is not None and dialog.isVisible()
    assert "2 messages" in dialog.message_label.text() and dialog.endpoint == dlq
    assert dialog.discard_button.isEnabled()  # not production: no name to type
    dialog.accept()
    gone = {m.id for m in chosen}
    model = window.browser.model
    driver.until(
        lambda: (
            model.browser is not None
            and not model.is_loading
            and model.loaded_count > 0
            and not gone & {model.message_at(r).id for r in range(model.loaded_count)}
        ),
        timeout=20,
        message="the endpoint to be reloaded without the discarded messages",
    )
    window.close()
    driver.run(window.wait_closed())
    assert len(driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))) == 24 - 2
    with Journal.open() as journal:
        (action,) = journal.actions()
        assert action.kind == "discard" and action.status == "completed"
        assert sorted(o.source_id for o in journal.action(action.id).messages) == sorted(
            m.id for m in chosen
        )
        assert {o.state for o in journal.action(action.id).messages} == {"settled"}


def test_production_discard_needs_the_name_typed(
    driver: LoopDriver, open_window, rabbitmq_profile, rabbitmq_seed
):
    from eventdesk.gui.discard_dialog import DiscardDialog

    profile = dataclasses.replace(rabbitmq_profile, environment="production")
    dialog = DiscardDialog(2, rabbitmq_seed["dlq"], profile)
    assert not dialog.discard_button.isEnabled()
    dialog.name_edit.setText("something else")
    assert not dialog.discard_button.isEnabled()
    dialog.name_edit.setText(rabbitmq_seed["dlq"])
    assert dialog.discard_button.isEnabled()
    dialog.deleteLater()


def test_read_only_profile_disables_replay_and_discard(
    driver: LoopDriver, open_window, rabbitmq_profile, rabbitmq_seed
):
    profile = dataclasses.replace(rabbitmq_profile, read_only=True)
    window = open_window(profile)
    assert window.open_endpoint_named("RabbitMQ", rabbitmq_seed["dlq"])
    model = window.browser.model
    driver.until(lambda: model.loaded_count >= 3 and not model.is_loading, timeout=20)
    window.browser.select_rows([0, 1, 2])
    assert len(window.selected_messages()) == 3
    assert not window.replay_action.isEnabled()
    assert not window.discard_action.isEnabled()
    window.replay_action.trigger()
    assert window.replay_wizard is None
