"""Failure groups in the Messages tab against the real local RabbitMQ.

The seed dead-letters 24 messages the broker's own way: 18 rejected by a consumer and
6 expired by per-message TTL, so the DLQ holds exactly two failure groups.
"""

from __future__ import annotations

import pytest
from eventdesk.connectors.failure_groups import failure_signature
from eventdesk.gui.main_window import MainWindow

from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver

pytestmark = pytest.mark.rabbitmq


def _open_all(driver: LoopDriver, window: MainWindow, dlq: str) -> None:
    assert window.open_endpoint_named("RabbitMQ", dlq)
    model = window.browser.model
    driver.until(lambda: model.loaded_count >= 24 and not model.is_loading, timeout=20)
    groups = window.browser.failure_groups
    driver.until(lambda: sum(g.count for g in groups.model.groups) == 24, timeout=10)


def test_groups_count_the_loaded_dead_letters_by_failure(
    driver: LoopDriver, open_window, rabbitmq_profile, rabbitmq_seed
):
    window = open_window(rabbitmq_profile)
    _open_all(driver, window, rabbitmq_seed["dlq"])
    groups = window.browser.failure_groups.model.groups
    assert [(g.count, g.reason) for g in groups] == [(18, "rejected"), (6, "expired")]
    assert all(g.sources == (rabbitmq_seed["source"],) for g in groups)
    summary = window.browser.failure_groups.summary_label.text()
    assert summary.startswith("2 failure groups in 24 loaded messages")


def test_choosing_a_group_selects_it_and_discard_removes_exactly_that_group(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    _open_all(driver, window, dlq)
    widget = window.browser.failure_groups
    [expired_row] = [i for i, g in enumerate(widget.model.groups) if g.reason == "expired"]
    expired = widget.model.groups[expired_row]

    widget.choose(expired_row)
    chosen = window.selected_messages()
    assert sorted(m.id for m in chosen) == sorted(expired.message_ids)
    assert {failure_signature(m) for m in chosen} == {expired.signature}
    assert window.discard_action.isEnabled()

    window.discard_action.trigger()
    dialog = window.discard_dialog
    assert dialog is not None and "6 messages" in dialog.message_label.text()
    dialog.accept()
    model = window.browser.model
    driver.until(
        lambda: model.browser is not None and not model.is_loading and model.loaded_count == 18,
        timeout=20,
        message="the DLQ to reload without the expired group",
    )
    driver.until(lambda: len(widget.model.groups) == 1, timeout=10)
    assert widget.model.groups[0].reason == "rejected"
    window.close()
    driver.run(window.wait_closed())
    left = driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))
    assert len(left) == 18


def test_a_group_exports_an_incident_report_of_that_group_only(
    driver: LoopDriver, open_window, rabbitmq_profile, rabbitmq_seed
):
    window = open_window(rabbitmq_profile)
    _open_all(driver, window, rabbitmq_seed["dlq"])
    widget = window.browser.failure_groups
    [row] = [i for i, g in enumerate(widget.model.groups) if g.reason == "expired"]
    widget.choose(row)
    widget.report_action.trigger()
    dialog = window.report_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.group_label.isVisibleTo(dialog) and "expired" in dialog.group_label.text()
    request = dialog.request()
    assert request.failure_groups == (widget.model.groups[row].signature,)
    assert request.title == "Incident report: expired"
    dialog.reject()
