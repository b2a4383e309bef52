"""Purge from the main window against the real local RabbitMQ: the name must be typed."""

from __future__ import annotations

import dataclasses

import pytest
from eventdesk.connectors.journal import Journal

from .conftest import LoopDriver
from .test_history_view import _drain, _first_messages

pytestmark = pytest.mark.rabbitmq


def test_purge_asks_for_the_name_then_empties_the_dlq_and_journals_it(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    _first_messages(driver, window, dlq, 24)  # the table now holds them unacknowledged
    assert window.purge_action.isEnabled()

    window.purge_action.trigger()
    dialog = window.purge_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.purge_button.isEnabled()
    dialog.name_edit.setText(dlq[:-1])
    assert not dialog.purge_button.isEnabled()
    dialog.name_edit.setText(dlq)
    assert dialog.purge_button.isEnabled()
    dialog.purge_button.click()

    model = window.browser.model
    driver.until(
        lambda: (
            window.open_endpoint == ("RabbitMQ", dlq)
            and model.browser is not None
            and not model.is_loading
            and model.loaded_count == 0
        ),
        timeout=30,
        message="the DLQ reopened empty",
    )
    with Journal.open() as journal:
        [action] = journal.actions()
    assert (action.kind, action.status, action.source) == ("purge", "completed", dlq)
    assert action.detail == "24 messages removed"
    window.close()
    driver.run(window.wait_closed())
    assert driver.run(_drain(rabbitmq, dlq)) == []
    assert len(driver.run(_drain(rabbitmq, rabbitmq_seed["source"]))) == 5  # untouched


def test_purge_is_disabled_on_a_read_only_connection(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    window = open_window(dataclasses.replace(rabbitmq_profile, read_only=True))
    _first_messages(driver, window, rabbitmq_seed["dlq"], 1)
    assert not window.purge_action.isEnabled()
    window.purge_action.trigger()
    assert window.purge_dialog is None
