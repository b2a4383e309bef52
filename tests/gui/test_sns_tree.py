"""SNS topics in the connection tree: each subscription and its redrive DLQ, beside the topic."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.gui.main_window import MainWindow
from PySide6.QtCore import Qt

from tests.seed.sqs import seed_sqs

from .conftest import LoopDriver

pytestmark = pytest.mark.sqs


def _tooltip(window: MainWindow, connection: str, endpoint: str) -> str:
    index = window.tree_model.endpoint_index(connection, endpoint)
    assert index.isValid(), f"{endpoint} is not in the tree"
    return str(index.data(Qt.ItemDataRole.ToolTipRole))


def test_a_topic_shows_its_subscription_and_the_dlq_names_the_subscription(
    sqs,
    sqs_profile: ConnectionProfile,
    sqs_queues: list[dict[str, str]],
    open_window: Callable[..., MainWindow],
    driver: LoopDriver,
) -> None:
    names = seed_sqs(
        endpoint_url=sqs.endpoint_url,
        region=sqs.region,
        prefix=f"t-{uuid.uuid4().hex[:8]}",
        count=5,
    )
    sqs_queues.append(names)
    window = open_window(sqs_profile)
    driver.until(
        lambda: window.tree_model.endpoint_index("SQS", names["topic"]).isValid(),
        timeout=30,
        message="the topic to be listed",
    )
    topic = _tooltip(window, "SQS", names["topic"])
    assert f"{names['topic']} — SQS topic" in topic
    assert (
        f"subscription 1: sqs → {names['notifications']} · DLQ {names['notifications_dlq']}"
        in topic
    )

    dlq = _tooltip(window, "SQS", names["notifications_dlq"])
    assert "Dead-letter queue: redrive DLQ of SNS subscription " in dlq
    assert f"(topic {names['topic']}, sqs → {names['notifications']})" in dlq
    assert f"Fed by: {names['topic']}" in dlq
    # Shown with the other dead-letter queues, even with the DLQ-only filter on.
    window.tree.set_dead_letters_only(True)
    assert names["notifications_dlq"] in window.tree.visible_endpoints("SQS")
    assert names["notifications"] not in window.tree.visible_endpoints("SQS")
