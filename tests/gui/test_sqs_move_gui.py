"""Move all back (SQS) from the main window, against ElasticMQ's real move tasks."""

from __future__ import annotations

import boto3
import pytest
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile

from tests.connectors.test_sqs_redrive import _dead_lettered

from .conftest import LoopDriver
from .endpoints import until_reopened

pytestmark = pytest.mark.sqs


def test_move_all_back_empties_the_dlq_into_its_source(driver: LoopDriver, open_window, elasticmq):
    source, dlq = _dead_lettered(elasticmq, 6)
    profile = ConnectionProfile(
        "ElasticMQ",
        BrokerKind.SQS,
        {"region": elasticmq.region, "endpoint_url": elasticmq.endpoint_url},
    )
    window = open_window(profile)
    assert window.open_endpoint_named("ElasticMQ", dlq)
    model = window.browser.model
    driver.until(lambda: model.loaded_count == 6 and not model.is_loading, timeout=20)
    assert window.move_back_action.isEnabled()

    window.move_back_action.trigger()
    dialog = window.move_dialog
    assert dialog is not None and dialog.isVisible()
    assert window.open_endpoint is None  # the table gave its hidden messages back
    dialog.move_button.click()
    (result,) = driver.wait_signal(dialog.finished_move, timeout=60)
    assert result is not None and (result.status, result.moved) == ("completed", 6)
    assert "6 messages moved" in dialog.status_label.text()
    dialog.cancel_button.click()  # now "Close"
    until_reopened(
        driver, window, "ElasticMQ", dlq, empty=True, timeout=30, message="the DLQ reopened empty"
    )
    client = boto3.client("sqs", endpoint_url=elasticmq.endpoint_url, region_name=elasticmq.region)
    url = client.get_queue_url(QueueName=source)["QueueUrl"]
    attributes = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "6"
    window.history.reload()
    assert window.history.actions_model.records[0].kind == "move"
