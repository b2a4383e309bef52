"""Real SQS/SNS dead letters on a local emulator (moto), for tests and the demo launcher.

Dead letters here get where they are the way they would in AWS wherever the
emulator allows it: receive counts run past a RedrivePolicy's maxReceiveCount
and the broker moves the messages.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from .orders import order

_MAX_RECEIVE_COUNT = 2
_CUSTOMERS = ["cus_8f2a", "cus_19bd", "cus_77e0", "cus_c4a1"]


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        # The emulator takes any key; without one boto3 refuses to sign at all.
        session = boto3.Session(
            region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
    return (
        session.client("sqs", endpoint_url=endpoint_url),
        session.client("sns", endpoint_url=endpoint_url),
    )


def _queue(sqs: Any, name: str, attributes: dict[str, str] | None = None) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _visible(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _redrive(dlq_arn: str) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": _MAX_RECEIVE_COUNT})


def _order(n: int, rng: random.Random) -> dict[str, Any]:
    document = order(rng, n)
    if n % 5 == 0:  # every fifth order carries the defect that makes its consumer give up
        document["shipping"]["country"] = "XX"
    return document


def _order_attributes(n: int) -> dict[str, dict[str, str]]:
    return {
        "eventType": {"DataType": "String", "StringValue": "OrderPlaced"},
        "schemaVersion": {"DataType": "Number", "StringValue": "3"},
        "correlationId": {"DataType": "String", "StringValue": str(uuid.uuid4())},
        "traceparent": {
            "DataType": "String",
            "StringValue": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        },
        "source": {"DataType": "String", "StringValue": "checkout-service"},
        "tenant": {"DataType": "Binary", "BinaryValue": f"tenant-{n % 3}".encode()},
    }


def _drive_into_dlq(sqs: Any, url: str, dlq_url: str, expected: int, *, rounds: int = 40) -> None:
    """Receive without processing until the broker has moved `expected` more to the DLQ."""
    target = _visible(sqs, dlq_url) + expected
    for _ in range(rounds):
        # VisibilityTimeout=0 makes each receive a failed attempt that returns at once.
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        if _visible(sqs, dlq_url) >= target:
            return
    raise RuntimeError(
        f"Only {_visible(sqs, dlq_url)} of {target} messages reached {dlq_url} by redrive."
    )


def seed_sqs(
    *, endpoint_url: str, region: str = "us-east-1", prefix: str = "demo", count: int = 30
) -> dict[str, str]:
    """Create queues, a topic and dead letters under `prefix`; returns their names.

    Keys: orders, orders_dlq, payments_fifo, payments_fifo_dlq, topic, topic_arn,
    notifications, notifications_dlq, lambda_dlq.
    """
    sqs, sns = _clients(endpoint_url, region)
    rng = random.Random(prefix)
    names = {
        "orders": f"{prefix}-orders",
        "orders_dlq": f"{prefix}-orders-dlq",
        "payments_fifo": f"{prefix}-payments.fifo",
        "payments_fifo_dlq": f"{prefix}-payments-dlq.fifo",
        "topic": f"{prefix}-order-events",
        "notifications": f"{prefix}-order-notifications",
        "notifications_dlq": f"{prefix}-order-notifications-dlq",
        "lambda_dlq": f"{prefix}-thumbnailer-dlq",
    }

    # Standard queue: `count` orders fail twice each and the broker moves them.
    dlq_url, dlq_arn = _queue(sqs, names["orders_dlq"])
    orders_url, _ = _queue(sqs, names["orders"], {"RedrivePolicy": _redrive(dlq_arn)})
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=orders_url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": json.dumps(_order(n, rng)),
                    "MessageAttributes": _order_attributes(n),
                }
                for n in range(start, min(start + 10, count))
            ],
        )
    _drive_into_dlq(sqs, orders_url, dlq_url, count)
    # Fresh orders that have not failed, so the source queue is not empty in the demo.
    for n in range(count, count + max(1, count // 3)):
        sqs.send_message(
            QueueUrl=orders_url,
            MessageBody=json.dumps(_order(n, rng)),
            MessageAttributes=_order_attributes(n),
        )

    # FIFO pair: moto redrives FIFO queues by maxReceiveCount as well.
    fifo_dlq_url, fifo_dlq_arn = _queue(sqs, names["payments_fifo_dlq"], {"FifoQueue": "true"})
    fifo_url, _ = _queue(
        sqs,
        names["payments_fifo"],
        {"FifoQueue": "true", "RedrivePolicy": _redrive(fifo_dlq_arn)},
    )
    fifo_count = max(3, count // 5)
    for n in range(fifo_count):
        sqs.send_message(
            QueueUrl=fifo_url,
            MessageBody=json.dumps(
                {"payment_id": f"pay-{n}", "order_id": f"ord-{10_000 + n}", "amount": 42 + n}
            ),
            MessageGroupId=f"customer-{n % 2}",
            MessageDeduplicationId=f"{prefix}-pay-{n}-{uuid.uuid4().hex}",
            MessageAttributes={"eventType": {"DataType": "String", "StringValue": "PaymentDue"}},
        )
    _drive_into_dlq(sqs, fifo_url, fifo_dlq_url, fifo_count)

    # SNS topic -> SQS subscription whose own RedrivePolicy names a DLQ.
    topic_arn = sns.create_topic(Name=names["topic"])["TopicArn"]
    names["topic_arn"] = topic_arn
    notifications_url, notifications_arn = _queue(sqs, names["notifications"])
    sub_dlq_url, sub_dlq_arn = _queue(sqs, names["notifications_dlq"])
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=notifications_arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": sub_dlq_arn})},
        ReturnSubscriptionArn=True,
    )
    for n in range(3):
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps({"order_id": f"ord-{10_000 + n}", "status": "shipped"}),
            MessageAttributes={"eventType": {"DataType": "String", "StringValue": "OrderShipped"}},
        )
    # moto stores the subscription's RedrivePolicy but never dead-letters a
    # failed delivery, so one delivered envelope is moved by hand, unchanged.
    moved = sqs.receive_message(QueueUrl=notifications_url, MaxNumberOfMessages=1)["Messages"]
    for message in moved:
        sqs.send_message(QueueUrl=sub_dlq_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=notifications_url, ReceiptHandle=message["ReceiptHandle"])

    # A Lambda async-invocation DLQ: Lambda itself adds these three attributes.
    lambda_url, _ = _queue(sqs, names["lambda_dlq"])
    for n in range(3):
        event = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": f"{prefix}-uploads"},
                        "object": {"key": f"photos/{n:04d}.heic", "size": 3_100_000 + n},
                    },
                }
            ]
        }
        sqs.send_message(
            QueueUrl=lambda_url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {
                    "DataType": "String",
                    "StringValue": "Task timed out after 3.00 seconds"
                    if n % 2
                    else "UnsupportedImageFormat: cannot decode HEIC without libheif",
                },
            },
        )
    return names


def fill_queue(
    *, endpoint_url: str, region: str, queue_url: str, count: int, size: int = 1024
) -> None:
    """Put `count` messages of about `size` bytes on a queue, fast (parallel batches of 10)."""
    sqs, _ = _clients(endpoint_url, region)
    fifo = queue_url.endswith(".fifo")
    run = uuid.uuid4().hex[:8]

    def batch(start: int) -> None:
        entries = []
        for n in range(start, min(start + 10, count)):
            head = json.dumps({"n": n, "run": run, "sent": time.time(), "pad": ""})
            body = head[:-2] + "x" * max(0, size - len(head)) + '"}'
            entry: dict[str, Any] = {
                "Id": str(n),
                "MessageBody": body,
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(n)}},
            }
            if fifo:
                entry["MessageGroupId"] = "fill"
                entry["MessageDeduplicationId"] = f"{run}-{n}"
            entries.append(entry)
        failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"send_message_batch to {queue_url} failed: {failed}")

    starts = range(0, count, 10)
    if fifo:
        # Parallel batches would interleave and lose the group's order.
        for start in starts:
            batch(start)
        return
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(batch, starts))


def drain_queue(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Receive and delete everything in a queue (by name), with all attributes: what a test
    asserts a replay delivered. Stops after three empty receives in a row."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got: list[dict[str, Any]] = []
    empty = 0
    while empty < 3:
        reply = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=0 if empty == 0 else 1,
        )
        batch = reply.get("Messages", [])
        empty = 0 if batch else empty + 1
        for message in batch:
            got.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) as the broker reports them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )
