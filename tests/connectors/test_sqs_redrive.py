"""SQS's own move task for a whole DLQ, against ElasticMQ (moto lacks the action)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from eventdesk.connectors.errors import BrokerError
from eventdesk.connectors.sqs import SqsConnector
from eventdesk.connectors.sqs_redrive import move_back

from tests.conftest import SqsSettings

pytestmark = pytest.mark.sqs


def _dead_lettered(settings: SqsSettings, count: int) -> tuple[str, str]:
    """A source queue whose first receive of each message dead-letters it (maxReceiveCount 1)."""
    client = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    name = f"t-move-{uuid.uuid4().hex[:8]}"
    dlq_url = client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = client.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    for i in range(count):
        client.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    received = 0
    while received < count:  # received once, then moved to the DLQ on the next receive
        received += len(
            client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                "Messages", []
            )
        )
    for _ in range(3):
        client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return name, f"{name}-dlq"


async def test_move_task_moves_the_whole_dlq_back_and_is_journaled(elasticmq, journal):
    source, dlq = _dead_lettered(elasticmq, 7)
    seen: list[tuple[int, int | None]] = []
    async with SqsConnector(region=elasticmq.region, endpoint_url=elasticmq.endpoint_url) as sqs:
        assert await sqs.depth(dlq) == 7
        result = await move_back(
            sqs,
            dlq,
            journal=journal,
            source_connection="ElasticMQ",
            progress=lambda moved, left: seen.append((moved, left)),
            poll=0.2,
        )
        assert (result.status, result.moved) == ("completed", 7)
        assert await sqs.depth(dlq) == 0
        assert await sqs.depth(source) == 7
    assert seen and seen[-1][0] == 7
    record = journal.action(result.action_id)
    assert (record.kind, record.status, record.source) == ("move", "completed", dlq)
    assert "7 messages moved by SQS move task" in record.detail


async def test_an_endpoint_without_move_tasks_says_so_and_the_journal_says_failed(sqs, journal):
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    dlq = f"t-nomove-{uuid.uuid4().hex[:8]}"
    url = client.create_queue(QueueName=dlq)["QueueUrl"]
    try:
        async with SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url) as connector:
            with pytest.raises(BrokerError, match="does not offer SQS message move tasks") as info:
                await move_back(connector, dlq, journal=journal, source_connection="moto")
        assert "Replay a selection instead" in info.value.hint
    finally:
        client.delete_queue(QueueUrl=url)
    [record] = journal.actions()
    assert (record.kind, record.status) == ("move", "failed")
