"""SNS on moto: topics with their subscriptions and redrive DLQs, and topics as replay targets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.model import EndpointKind, Outgoing
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER, ReplayOptions, preview, replay
from eventdesk.connectors.sqs import SqsConnector, unwrap_sns_envelope

from tests.conftest import SqsSettings
from tests.seed.sqs import drain_queue, seed_sqs

pytestmark = pytest.mark.sqs


@pytest.fixture
def clients(sqs: SqsSettings) -> tuple[Any, Any]:
    kwargs = {"endpoint_url": sqs.endpoint_url, "region_name": sqs.region}
    return boto3.client("sqs", **kwargs), boto3.client("sns", **kwargs)


@pytest.fixture
def fan_out(clients: tuple[Any, Any]) -> Iterator[dict[str, str]]:
    """A topic with an sqs and an https subscription (each with a DLQ) and a lambda one."""
    sqs, sns = clients
    prefix = f"t-sns-{uuid.uuid4().hex[:8]}"
    names = {
        "topic": f"{prefix}-orders",
        "queue": f"{prefix}-shipping",
        "queue_dlq": f"{prefix}-shipping-dlq",
        "hook_dlq": f"{prefix}-hook-dlq",
    }
    arns: dict[str, str] = {}
    urls: list[str] = []
    for key in ("queue", "queue_dlq", "hook_dlq"):
        url = sqs.create_queue(QueueName=names[key])["QueueUrl"]
        urls.append(url)
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arns[key] = attributes["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=names["topic"])["TopicArn"]

    def subscribe(protocol: str, endpoint: str, dlq: str | None) -> str:
        attributes = (
            {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arns[dlq]})} if dlq else {}
        )
        reply = sns.subscribe(
            TopicArn=topic_arn,
            Protocol=protocol,
            Endpoint=endpoint,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        return str(reply["SubscriptionArn"])

    names["queue_subscription"] = subscribe("sqs", arns["queue"], "queue_dlq")
    names["hook_subscription"] = subscribe("https", "https://hooks.example.com/orders", "hook_dlq")
    subscribe("lambda", "arn:aws:lambda:us-east-1:123456789012:function:ship", None)
    yield names
    sns.delete_topic(TopicArn=topic_arn)
    for url in urls:
        sqs.delete_queue(QueueUrl=url)


async def test_topics_list_subscriptions_and_their_dead_letter_queues(
    sqs_connector: SqsConnector, fan_out: dict[str, str]
) -> None:
    endpoints = {e.name: e for e in await sqs_connector.list_endpoints()}
    topic = endpoints[fan_out["topic"]]
    assert topic.kind is EndpointKind.TOPIC and not topic.is_dead_letter
    assert topic.details["subscriptions"] == "3"
    shown = {v for k, v in topic.details.items() if k.startswith("subscription ")}
    assert shown == {
        f"sqs → {fan_out['queue']} · DLQ {fan_out['queue_dlq']}",
        f"https → https://hooks.example.com/orders · DLQ {fan_out['hook_dlq']}",
        "lambda → arn:aws:lambda:us-east-1:123456789012:function:ship · no redrive policy",
    }

    for dlq, subscription, route in (
        ("queue_dlq", "queue_subscription", f"sqs → {fan_out['queue']}"),
        ("hook_dlq", "hook_subscription", "https → https://hooks.example.com/orders"),
    ):
        endpoint = endpoints[fan_out[dlq]]
        assert endpoint.is_dead_letter
        assert endpoint.fed_by == (fan_out["topic"],)
        short_id = fan_out[subscription].rsplit(":", 1)[-1]
        assert endpoint.dead_letter_evidence == (
            f"redrive DLQ of SNS subscription {short_id} (topic {fan_out['topic']}, {route})"
        )
        assert endpoint.details["sns_subscriptions"] == fan_out[subscription]
    # The subscribed queue itself is a plain queue.
    assert not endpoints[fan_out["queue"]].is_dead_letter


async def test_a_subscription_dead_letter_replayed_to_its_topic_is_not_wrapped_twice(
    sqs_connector: SqsConnector, sqs: SqsSettings, clients: tuple[Any, Any]
) -> None:
    sqs_client, sns = clients
    seeded = seed_sqs(
        endpoint_url=sqs.endpoint_url,
        region=sqs.region,
        prefix=f"t-{uuid.uuid4().hex[:8]}",
        count=5,
    )
    try:
        drain_queue(sqs_client, seeded["notifications"])
        async with sqs_connector.browse(seeded["notifications_dlq"]) as browser:
            [letter] = (await browser.next_page()).messages
            envelope = json.loads(letter.body)
            assert envelope["Type"] == "Notification"
            assert letter.dead_letter.original_destination == seeded["notifications"]
            # The preview shows what will be sent: the message inside the envelope for the
            # topic (by ARN, or by a listed name), the envelope as it is for a queue.
            await sqs_connector.list_endpoints()
            shown = {}
            for target in (seeded["topic_arn"], seeded["topic"], seeded["notifications"]):
                [item] = preview([letter], target, options=ReplayOptions(), connector=sqs_connector)
                assert item.outgoing is not None
                shown[target] = item.outgoing
            inner = envelope["Message"].encode()
            assert shown[seeded["topic_arn"]].body == shown[seeded["topic"]].body == inner
            assert ("eventType", "OrderShipped") in shown[seeded["topic"]].headers
            assert shown[seeded["notifications"]].body == letter.body
            with Journal.open() as journal:
                result = await replay(
                    sqs_connector,
                    browser,
                    [letter],
                    sqs_connector,
                    seeded["topic"],
                    options=ReplayOptions(),
                    journal=journal,
                )
        assert result.ok, result
        assert "envelope" in result.outcomes[0].detail
        [delivered] = drain_queue(sqs_client, seeded["notifications"])
        again = json.loads(delivered["Body"])
        # One envelope, around the original message, with its attributes and the replay's.
        assert again["Message"] == envelope["Message"]
        assert json.loads(again["Message"])["status"] == "shipped"
        attributes = {k: v["Value"] for k, v in again["MessageAttributes"].items()}
        assert attributes["eventType"] == "OrderShipped"
        assert attributes[ORIGINAL_ID_HEADER] == letter.id
        assert drain_queue(sqs_client, seeded["notifications_dlq"]) == []
    finally:
        sns.delete_topic(TopicArn=seeded["topic_arn"])
        for key, name in seeded.items():
            if not key.startswith("topic"):
                url = sqs_client.get_queue_url(QueueName=name)["QueueUrl"]
                sqs_client.delete_queue(QueueUrl=url)


def test_unwrapping_keeps_typed_attributes_and_lets_the_replay_headers_win() -> None:
    envelope = {
        "Type": "Notification",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
        "Message": '{"id": 7}',
        "MessageAttributes": {
            "tenant": {"Type": "Binary", "Value": "AAEC"},
            "attempt": {"Type": "Number", "Value": "3"},
            "eventType": {"Type": "String", "Value": "OrderPlaced"},
            ORIGINAL_ID_HEADER: {"Type": "String", "Value": "older-id"},
        },
    }
    outgoing = Outgoing(
        "m-1", json.dumps(envelope).encode(), headers=((ORIGINAL_ID_HEADER, "m-1"),)
    )
    unwrapped, changed = unwrap_sns_envelope(outgoing)
    assert changed
    assert unwrapped.body == b'{"id": 7}'
    headers = dict(unwrapped.headers)  # later pairs win, as they do when sent
    assert headers == {
        "tenant": b"\x00\x01\x02",
        "attempt": 3,
        "eventType": "OrderPlaced",
        ORIGINAL_ID_HEADER: "m-1",
    }
    plain = Outgoing("m-2", b'{"Type": "Order", "Message": "x"}')
    assert unwrap_sns_envelope(plain) == (plain, False)
