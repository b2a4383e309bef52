"""Fixtures the connector tests share: connected connectors, a boto3 SQS client, throwaway
RabbitMQ accounts, seeded NATS dead letters, the journal. The brokers are tests/conftest.py's."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import nats as nats_client
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.nats import NatsConnector, dead_letter_endpoint
from eventdesk.connectors.rabbitmq import ManagementClient, RabbitMQConnector
from eventdesk.connectors.sqs import SqsConnector

from tests.conftest import KafkaSecureSettings, RabbitMQSettings, SqsSettings
from tests.seed.nats import seed_nats
from tests.seed.rabbitmq_accounts import RabbitMQAccount, temporary_account

NATS_DEAD_LETTERS = 3  # nats_orders' seed exhausts 2 and terminates 1 of 6 orders


@pytest.fixture
def journal() -> Iterator[Journal]:
    with Journal.open() as journal:
        yield journal


@pytest.fixture
def sqs_client(sqs: SqsSettings) -> Any:
    return boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)


@pytest.fixture
async def kafka_connector(kafka_bootstrap: str) -> AsyncIterator[KafkaConnector]:
    async with KafkaConnector(kafka_bootstrap) as connector:
        yield connector


@pytest.fixture
async def sqs_connector(sqs: SqsSettings) -> AsyncIterator[SqsConnector]:
    connector = SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url)
    await connector.connect()
    yield connector
    await connector.close()


@pytest.fixture
async def rabbitmq_connector(rabbitmq: RabbitMQSettings) -> AsyncIterator[RabbitMQConnector]:
    connector = RabbitMQConnector(**rabbitmq.account())
    await connector.connect()
    yield connector
    await connector.close()


@pytest.fixture
def rabbitmq_admin(rabbitmq: RabbitMQSettings) -> ManagementClient:
    """The management API as the broker's administrator, to make throwaway accounts."""
    return ManagementClient(
        rabbitmq.management_url, username=rabbitmq.username, password=rabbitmq.password
    )


@pytest.fixture
async def rabbitmq_full_account(
    rabbitmq_admin: ManagementClient, unique_name: str
) -> AsyncIterator[RabbitMQAccount]:
    """A throwaway user with its own vhost: all permissions there and the "monitoring" tag."""
    async with temporary_account(
        rabbitmq_admin, unique_name, tags="monitoring", permissions=(".*", ".*", ".*")
    ) as account:
        yield account


@pytest.fixture
async def rabbitmq_untagged_account(
    rabbitmq_admin: ManagementClient, unique_name: str
) -> AsyncIterator[RabbitMQAccount]:
    """Full permissions on its vhost, but no tag: the management API refuses it."""
    async with temporary_account(
        rabbitmq_admin, unique_name, permissions=(".*", ".*", ".*")
    ) as account:
        yield account


@pytest.fixture
async def nats_connector(nats: str) -> AsyncIterator[NatsConnector]:
    """Connected to the shared server, with its advisory capture stream in place."""
    connector = NatsConnector(nats)
    await connector.connect()
    await connector.ensure_advisory_capture()
    yield connector
    await connector.close()


@pytest.fixture
async def nats_orders(nats: str, nats_connector: NatsConnector) -> AsyncIterator[str]:
    """A seeded ORDERS_<id> stream whose consumer "billing" dead-lettered 3 messages."""
    stream = f"ORDERS_{uuid.uuid4().hex[:8]}"
    await seed_nats(nats, stream=stream, consumer="billing", count=6, exhaust=2, terminate=1)
    # Advisories are published asynchronously; wait until the capture stream has them.
    deadline = time.monotonic() + 10
    dlq = dead_letter_endpoint(stream, "billing")
    while await nats_connector.depth(dlq) < NATS_DEAD_LETTERS:
        assert time.monotonic() < deadline, "the server published no advisories"
        await asyncio.sleep(0.1)
    yield stream
    nc = await nats_client.connect(nats)
    await nc.jetstream().delete_stream(stream)
    await nc.close()


# -- the secured Kafka: an admin, a topic, and ACLs granted for a test -------------------


@pytest.fixture
async def secure_admin(kafka_secure: KafkaSecureSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client of the secured Kafka as its super user."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=f"127.0.0.1:{kafka_secure.sasl_port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=kafka_secure.username,
        sasl_plain_password=kafka_secure.passwords["SCRAM-SHA-512"],
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@pytest.fixture
async def secure_topic(secure_admin: AIOKafkaAdminClient, unique_name: str) -> AsyncIterator[str]:
    """A topic on the secured Kafka, so there is something a user may or may not see."""
    await secure_admin.create_topics([NewTopic(unique_name, 1, 1)])
    try:
        yield unique_name
    finally:
        await secure_admin.delete_topics([unique_name])


# ACL codes of the Kafka protocol (CreateAcls/DeleteAcls).
_TOPIC, _LITERAL, _DESCRIBE, _ALLOW = 2, 3, 8, 3


@contextlib.asynccontextmanager
async def describe_granted(
    admin: AIOKafkaAdminClient, topic: str, principal: str
) -> AsyncIterator[None]:
    """`principal` may Describe `topic` (a literal ACL) for the duration."""
    acl = (_TOPIC, topic, _LITERAL, principal, "*", _DESCRIBE, _ALLOW)
    created = await admin._send_request(CreateAclsRequest(*acl))
    assert [code for code, _ in created.creation_responses] == [0], created
    try:
        yield
    finally:
        await admin._send_request(DeleteAclsRequest(*acl))
