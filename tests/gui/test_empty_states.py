"""Empty states say what to do next: here, an empty dead-letter queue on a real SQS endpoint."""

from __future__ import annotations

import json

import boto3
from eventdesk.gui.main_window import EMPTY_ENDPOINT_TEXT, PICK_ENDPOINT_TEXT
from eventdesk.gui.message_detail import NO_MESSAGE_TEXT

from .conftest import LoopDriver


def _make_queue_with_dlq(sqs, name: str) -> tuple[str, str]:
    """A queue whose redrive policy makes `name-dlq` a dead-letter queue; returns both URLs."""
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    dlq_url = client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    url = client.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return url, dlq_url


def test_an_empty_dead_letter_queue_says_so_and_what_next(
    open_window, sqs_profile, sqs, sqs_queues, unique_name: str, driver: LoopDriver
):
    name = unique_name[:70]
    sqs_queues.append({"orders": name, "orders_dlq": f"{name}-dlq"})
    _url, dlq_url = _make_queue_with_dlq(sqs, name)
    window = open_window(sqs_profile)
    assert window.content_empty.text() == PICK_ENDPOINT_TEXT

    assert window.open_endpoint_named("SQS", f"{name}-dlq")
    empty_text = EMPTY_ENDPOINT_TEXT.format(endpoint=f"{name}-dlq")
    driver.until(lambda: window.detail.empty.text() == empty_text, message="the empty state")
    assert window.detail.empty.isVisible()
    assert "refreshed every 10 s" in empty_text

    # Once a dead letter is there and the queue is read again, the usual prompt is back.
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    client.send_message(QueueUrl=dlq_url, MessageBody='{"order": 1}')
    window.tree.set_dead_letters_only(False)  # to step onto the source queue and back
    assert window.open_endpoint_named("SQS", name)
    driver.until(lambda: window.open_endpoint == ("SQS", name))
    assert window.open_endpoint_named("SQS", f"{name}-dlq")
    driver.until(lambda: window.browser.model.loaded_count == 1, timeout=20)
    assert window.detail.empty.text() == NO_MESSAGE_TEXT
