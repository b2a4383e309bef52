"""Alerts in the real window: a real SQS DLQ crosses its threshold, the Monitor records it,
the tray is asked to notify, the tree marks the endpoint; history and the alert log come
back when the window is reopened; rules are edited from the tree's context menu."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from eventdesk.connectors.alerts import (
    RULE_LABELS,
    AlertEvaluator,
    AlertRule,
    EventKind,
    RuleKind,
    default_rules_path,
    load_rules,
    save_rules,
)
from eventdesk.connectors.health import Health, HealthState
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.sampling import Metric, Reachability, Sample, SeriesKey, Snapshot
from eventdesk.gui.connection_tree_model import Roles
from eventdesk.gui.health_colors import HEALTH_COLORS
from eventdesk.gui.monitor_view import endpoint_marks, group_key
from PySide6.QtCore import QModelIndex, QRect
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QDialogButtonBox, QStyleOptionViewItem

from tests.seed.kafka import commit_offsets, create_topic

from .conftest import LoopDriver


@pytest.fixture
def sqs_dlq(
    sqs, sqs_queues: list[dict[str, str]], unique_name: str
) -> tuple[Any, str, dict[str, str]]:
    """A source queue whose RedrivePolicy names the DLQ, so discovery marks it dead-letter.

    Both are deleted after the test; gives (boto3 client, DLQ URL, {"dlq", "orders"} names).
    """
    names = {"dlq": f"{unique_name}-dlq", "orders": f"{unique_name}-orders"}
    sqs_queues.append(names)
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    dlq_url = client.create_queue(QueueName=names["dlq"])["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": "1"}
    client.create_queue(QueueName=names["orders"], Attributes={"RedrivePolicy": json.dumps(policy)})
    return client, dlq_url, names


def _send(client, url: str, count: int) -> None:
    entries = [{"Id": str(i), "MessageBody": f"failed order {i}"} for i in range(count)]
    client.send_message_batch(QueueUrl=url, Entries=entries)


def _drain(client, url: str) -> None:
    while got := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        client.delete_message_batch(QueueUrl=url, Entries=entries)


def _paint_row(window, index: QModelIndex) -> QImage:
    """The tree's delegate painting one endpoint name cell, 300 × 24, on white."""
    image = QImage(300, 24, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 300, 24)
    option.font = window.tree.view.font()
    window.tree.view.itemDelegate().paint(painter, option, index)
    painter.end()
    return image


def _alerts(window) -> list:
    return [e for e in window.monitor.alert_log.model.events() if e.kind is not EventKind.HEALTH]


@pytest.mark.sqs
def test_a_dlq_crossing_its_threshold_notifies_marks_the_tree_and_survives_reopening(
    driver: LoopDriver,
    open_window,
    sqs_profile: ConnectionProfile,
    sqs_dlq: tuple[Any, str, dict[str, str]],
):
    client, dlq_url, names = sqs_dlq
    dlq = names["dlq"]
    save_rules([AlertRule(RuleKind.DLQ_DEPTH, connection="SQS", endpoint=dlq, threshold=3)])

    window = open_window(sqs_profile)
    monitor = window.monitor
    monitor.interval_spin.setValue(0.3)
    window.monitor_action.trigger()
    depth_key = SeriesKey("SQS", dlq, "", None, Metric.DLQ_DEPTH)
    driver.until(lambda: monitor.dlq_chart.buffer(depth_key) is not None, timeout=30)
    assert window.tray.requests == []

    _send(client, dlq_url, 5)
    driver.until(lambda: len(window.tray.requests) == 1, timeout=30, message="a notification")
    request = window.tray.requests[0]
    assert request.title == "Alert · SQS"
    assert request.message.startswith(f"{dlq} depth 5 crossed 3")
    assert request.shown is False  # offscreen has no tray: asked, quietly not shown
    # Recorded in the event log and the alert log panel.
    [alert] = monitor._event_log.events(0, time.time() + 1, connection="SQS")
    assert (alert.kind, alert.endpoint, alert.title) == (
        EventKind.ALERT,
        dlq,
        f"{dlq} depth 5 crossed 3",
    )
    assert _alerts(window) == [alert]

    # The tree marks the endpoint, and says why on hover.
    def marked() -> str:
        return window.tree_model.endpoint_index("SQS", dlq).data(Roles.ALERT) or ""

    driver.until(lambda: bool(marked()), timeout=10, message="a tree mark")
    assert "DLQ depth ≥ 3" in marked()
    item = window.tree_model.itemFromIndex(window.tree_model.endpoint_index("SQS", dlq))
    assert "⚠ DLQ depth ≥ 3" in item.toolTip()
    tinted = _paint_row(window, item.index()).pixelColor(1, 1)
    assert tinted == QColor("#ffe3e0")  # the alert row tint
    # Inflow was charted per DLQ from the depth's rise.
    inflow = monitor.inflow_chart.buffer(SeriesKey("SQS", dlq, "", None, Metric.DLQ_INFLOW))
    assert inflow is not None and inflow.y.max() > 0

    # More messages while above: no second alert. Emptied: one recovery, mark cleared.
    _send(client, dlq_url, 2)
    driver.until(lambda: monitor.dlq_chart.buffer(depth_key).last() == 7, timeout=30)
    _drain(client, dlq_url)
    driver.until(lambda: len(window.tray.requests) == 2, timeout=30, message="a recovery")
    assert window.tray.requests[1].title == "Recovered · SQS"
    driver.until(lambda: not marked(), timeout=10, message="the mark cleared")
    assert _paint_row(window, item.index()).pixelColor(1, 1) == QColor("white")
    assert [e.kind for e in _alerts(window)] == [EventKind.ALERT, EventKind.RECOVERED]
    closed_at = time.time()
    seen = monitor.dlq_chart.buffer(depth_key)
    assert seen is not None and {5.0, 7.0} <= set(seen.y.tolist())

    window.close()
    driver.run(window.wait_closed())

    # Reopened: charts and the alert log start from history, before any new sample.
    again = open_window(sqs_profile)
    again.monitor.interval_spin.setValue(60.0)  # one live round: the rest is history
    again.monitor_action.trigger()
    driver.until(lambda: again.monitor.history_points_loaded > 0, timeout=30, message="history")
    buffer = again.monitor.dlq_chart.buffer(depth_key)
    assert buffer is not None
    old = [v for at, v in zip(buffer.x.tolist(), buffer.y.tolist(), strict=True) if at <= closed_at]
    assert {5.0, 7.0, 0.0} <= set(old)
    # The alert log is read from the event log after the charts' points: wait for it too.
    driver.until(lambda: len(_alerts(again)) >= 2, timeout=10, message="the alert log")
    assert [e.kind for e in _alerts(again)] == [EventKind.ALERT, EventKind.RECOVERED]


@pytest.mark.sqs
def test_alert_rules_open_from_the_tree_prefilled_and_save(
    driver: LoopDriver,
    open_window,
    sqs_profile: ConnectionProfile,
    sqs_dlq: tuple[Any, str, dict[str, str]],
):
    _, _, names = sqs_dlq
    window = open_window(sqs_profile)
    driver.until(lambda: window.tree.select_endpoint("SQS", names["dlq"]), timeout=30)
    # Right-click on the endpoint offers the rules.
    source = window.tree_model.endpoint_index("SQS", names["dlq"])
    menu = window.tree.context_menu(window.tree.filter_model.mapFromSource(source))
    assert menu is not None and window.alert_rules_action in menu.actions()
    menu.deleteLater()

    window.alert_rules_action.trigger()
    dialog = window.monitor.rules_dialog
    assert dialog is not None and dialog.isVisible()
    assert window.content_tabs.currentWidget() is window.monitor
    assert (dialog.connection_combo.currentText(), dialog.endpoint_edit.text()) == (
        "SQS",
        names["dlq"],
    )
    # A threshold of 0 is refused in the dialog, with what to do, not a crash.
    dialog.threshold_spin.setValue(0)
    dialog.add_button.click()
    assert dialog.rules_list.count() == 0
    assert "threshold above 0" in dialog.error_label.text()
    assert not dialog.error_label.isHidden()

    dialog.threshold_spin.setValue(25)
    dialog.add_button.click()
    dialog.kind_combo.setCurrentText(RULE_LABELS[RuleKind.HEALTH])
    assert not dialog.threshold_spin.isEnabled() and dialog.health_combo.isEnabled()
    dialog.add_button.click()
    assert dialog.error_label.isHidden()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    expected = [
        AlertRule(RuleKind.DLQ_DEPTH, connection="SQS", endpoint=names["dlq"], threshold=25),
        AlertRule(RuleKind.HEALTH, connection="SQS", endpoint=names["dlq"]),
    ]
    assert load_rules() == expected
    assert default_rules_path().exists()
    assert window.monitor.evaluator.rules == expected


# -- health badges in the tree ---------------------------------------------------------


def _lag(connection: str, topic: str, group: str, value: float) -> Sample:
    return Sample(connection, BrokerKind.KAFKA, topic, group, None, Metric.LAG, value, 1.0)


def test_endpoint_marks_show_the_worst_group_and_every_reason():
    snapshot = Snapshot(
        "Kafka",
        BrokerKind.KAFKA,
        1.0,
        Reachability.OK,
        (_lag("Kafka", "orders", "billing", 5), _lag("Kafka", "orders", "audit", 0)),
        health={
            "billing": Health(HealthState.STALLED, "Offsets have not moved."),
            "audit": Health(HealthState.OK, "Caught up."),
        },
    )
    evaluator = AlertEvaluator([AlertRule(RuleKind.LAG, group="billing", threshold=5)])
    evaluator.evaluate(snapshot)
    mark = endpoint_marks([snapshot], evaluator)[("Kafka", "orders")]
    assert mark.health is HealthState.STALLED
    assert mark.reason.splitlines() == [
        "billing: STALLED — Offsets have not moved.",
        "audit: OK — Caught up.",
    ]
    assert (
        mark.alert == "Lag (messages) ≥ 5 on any endpoint, group billing (any connection) (now 5)"
    )


@pytest.mark.kafka
def test_the_tree_shows_a_health_badge_for_a_topic_a_group_consumes(
    driver: LoopDriver,
    open_window,
    kafka_bootstrap: str,
    kafka_profile: ConnectionProfile,
    kafka_topics: list[str],
    unique_name: str,
):
    topic, group = f"{unique_name}-orders", f"{unique_name}-billing"
    kafka_topics.append(topic)
    driver.run(create_topic(kafka_bootstrap, topic, partitions=1), timeout=60)
    driver.run(commit_offsets(kafka_bootstrap, group, topic, {0: 0}), timeout=60)
    window = open_window(kafka_profile)
    window.tree.set_dead_letters_only(False)
    window.monitor.interval_spin.setValue(0.3)
    window.monitor_action.trigger()
    driver.until(
        lambda: window.monitor.lag_chart.buffer(group_key("Kafka", group)) is not None,
        timeout=30,
        message="the group sampled",
    )
    index = window.tree_model.endpoint_index("Kafka", topic)
    driver.until(lambda: index.data(Roles.HEALTH) == HealthState.OK.value, timeout=20)
    tooltip = window.tree_model.itemFromIndex(index).toolTip()
    assert "Health: OK" in tooltip and f"{group}: OK — " in tooltip
    badge = _paint_row(window, index).pixelColor(300 - 7, 12)
    assert badge == QColor(HEALTH_COLORS[HealthState.OK])
