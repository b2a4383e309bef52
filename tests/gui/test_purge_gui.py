"""Purge from the main window against the real local RabbitMQ: the name must be typed."""

from __future__ import annotations

import dataclasses

import pytest
from eventdesk.connectors.journal import Journal

from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver
from .endpoints import open_loaded, until_reopened

pytestmark = pytest.mark.rabbitmq


def test_purge_asks_for_the_name_then_empties_the_dlq_and_journals_it(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    open_loaded(driver, window, "RabbitMQ", dlq, 24)  # the table now holds them unacknowledged
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

    until_reopened(
        driver, window, "RabbitMQ", dlq, empty=True, timeout=30, message="the DLQ reopened empty"
    )
    with Journal.open() as journal:
        [action] = journal.actions()
    assert (action.kind, action.status, action.source) == ("purge", "completed", dlq)
    assert action.detail == "24 messages removed"
    window.close()
    driver.run(window.wait_closed())
    assert driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq)) == []
    in_source = driver.run(drain_queue(**rabbitmq.credentials(), queue=rabbitmq_seed["source"]))
    assert len(in_source) == 5  # untouched


def test_purge_is_disabled_on_a_read_only_connection(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    window = open_window(dataclasses.replace(rabbitmq_profile, read_only=True))
    open_loaded(driver, window, "RabbitMQ", rabbitmq_seed["dlq"], 1)
    assert not window.purge_action.isEnabled()
    window.purge_action.trigger()
    assert window.purge_dialog is None
