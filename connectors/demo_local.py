"""`--demo` on the project's local Kafka and RabbitMQ, when they run (tests/brokers/*.sh).

The same order traffic as the SQS demo, failing the same way, dead-lettered the way real
frameworks do it: on Kafka a Spring-style listener publishes the failed record to
`<topic>.DLT` with DeadLetterPublishingRecoverer's headers; on RabbitMQ the consumer
rejects it and the broker dead-letters it with x-death. Once the consumer is fixed,
replayed messages are processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aio_pika
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .model import BrokerKind
from .profiles import ConnectionProfile
from .rabbitmq import ClosingConnection

log = logging.getLogger(__name__)

KAFKA_HOST, KAFKA_PORT = "127.0.0.1", 19092
KAFKA_BOOTSTRAP = f"{KAFKA_HOST}:{KAFKA_PORT}"
RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
RABBITMQ_MANAGEMENT_URL = "http://127.0.0.1:15672"
# The local broker's stock account (tests/brokers/rabbitmq.sh); the profile names the
# variable, set for this process only.
RABBITMQ_USER = "guest"
RABBITMQ_PASSWORD_ENV = "EVENTDESK_DEMO_RABBITMQ_PASSWORD"

KAFKA_PROFILE = "Demo Kafka (local)"
RABBITMQ_PROFILE = "Demo RabbitMQ (local)"
TOPIC = "eventdesk-demo.orders"
DLT = f"{TOPIC}.DLT"
GROUP = "eventdesk-demo-fulfilment"
QUEUE = "eventdesk-demo.orders"
DLQ = f"{QUEUE}.dlq"

_LISTENER = "com.acme.fulfilment.OrderListener.onOrderPlaced"
_WRAPPER = "org.springframework.kafka.listener.ListenerExecutionFailedException"
# What a Java listener would have thrown for each way the demo consumer fails.
_CAUSES = {
    "MalformedPayload": "com.fasterxml.jackson.core.JsonParseException",
    "SchemaViolation": "jakarta.validation.ConstraintViolationException",
    "DownstreamTimeout": "java.net.SocketTimeoutException",
}


class OrderFeed(Protocol):
    """What the services need from the demo: the next order and the consumer's verdict."""

    def next_order(self) -> str: ...

    def check(self, body: str) -> None:
        """Raises ConsumerError when the consumer fails the order (never once fixed)."""


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with socket.socket() as probe:
        probe.settimeout(timeout)
        return probe.connect_ex((host, port)) == 0


def spring_dead_letter_headers(
    record: Any, error: Exception, group: str
) -> list[tuple[str, bytes]]:
    """The headers DeadLetterPublishingRecoverer adds to a failed record, in its encodings."""
    kind, _, detail = str(error).partition(": ")
    cause = _CAUSES.get(kind, "java.lang.IllegalStateException")
    message = f"Listener method '{_LISTENER}' threw exception; {detail or kind}"
    trace = (
        f"{_WRAPPER}: {message}\n\tat {_LISTENER}(OrderListener.java:57)\n"
        f"Caused by: {cause}: {detail or kind}\n\t... 14 more"
    )
    return [
        ("kafka_dlt-exception-fqcn", _WRAPPER.encode()),
        ("kafka_dlt-exception-cause-fqcn", cause.encode()),
        ("kafka_dlt-exception-message", message.encode()),
        ("kafka_dlt-exception-stacktrace", trace.encode()),
        ("kafka_dlt-original-topic", record.topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", record.partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", record.offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", record.timestamp)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", group.encode()),
    ]


class DemoServices:
    """Tasks that run until closed; a failing one is logged, never raised into the app."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Demo service %s stopped", task.get_name(), exc_info=task.exception())

    async def cancel(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class KafkaDemo:
    """checkout-service producing to TOPIC; fulfilment listener dead-lettering to DLT."""

    def __init__(self, feed: OrderFeed, *, rate: float, bootstrap: str = KAFKA_BOOTSTRAP):
        self._feed = feed
        self._rate = rate
        self.bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._services = DemoServices()
        self.dead_lettered = 0

    def profile(self) -> ConnectionProfile:
        return ConnectionProfile(
            KAFKA_PROFILE, BrokerKind.KAFKA, {"bootstrap_servers": self.bootstrap}, "dev"
        )

    async def start(self) -> None:
        await self._create_topics()
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            TOPIC,
            bootstrap_servers=self.bootstrap,
            group_id=GROUP,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await self._consumer.start()
        self._services.spawn(self._produce(), "eventdesk-demo:kafka-checkout")
        self._services.spawn(self._consume(), "eventdesk-demo:kafka-fulfilment")

    async def close(self) -> None:
        await self._services.cancel()
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._producer = None

    async def _create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="eventdesk-demo")
        await admin.start()
        try:
            response = await admin.create_topics([NewTopic(TOPIC, 3, 1), NewTopic(DLT, 1, 1)])
            for topic, code, *_ in response.topic_errors:
                if code and code != TopicAlreadyExistsError.errno:
                    raise RuntimeError(f"cannot create the demo topic {topic} (error {code})")
        finally:
            await admin.close()

    async def _produce(self) -> None:
        assert self._producer is not None
        while True:
            body = self._feed.next_order()
            order_id = _order_id(body)
            await self._producer.send(
                TOPIC,
                body.encode(),
                key=order_id.encode() if order_id else None,
                headers=[("eventType", b"OrderPlaced"), ("source", b"checkout-service")],
            )
            await asyncio.sleep(1.0 / self._rate)

    async def _consume(self) -> None:
        assert self._consumer is not None and self._producer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=50)
            for records in batches.values():
                for record in records:
                    await self._handle(record)
            if batches:
                await self._consumer.commit()

    async def _handle(self, record: Any) -> None:
        assert self._producer is not None
        try:
            self._feed.check(record.value.decode("utf-8", "replace"))
        except Exception as exc:
            headers = list(record.headers or ()) + spring_dead_letter_headers(record, exc, GROUP)
            await self._producer.send_and_wait(
                DLT, record.value, key=record.key, headers=headers, partition=0
            )
            self.dead_lettered += 1


class RabbitMQDemo:
    """checkout-service publishing to QUEUE; a consumer rejecting into the broker's DLX."""

    def __init__(self, feed: OrderFeed, *, rate: float) -> None:
        self._feed = feed
        self._rate = rate
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._services = DemoServices()
        self._set_password_env = False
        self.rejected = 0

    def profile(self) -> ConnectionProfile:
        settings = {
            "host": RABBITMQ_HOST,
            "port": str(RABBITMQ_PORT),
            "username": RABBITMQ_USER,
            "password_env": RABBITMQ_PASSWORD_ENV,
            "management_url": RABBITMQ_MANAGEMENT_URL,
        }
        return ConnectionProfile(RABBITMQ_PROFILE, BrokerKind.RABBITMQ, settings, "dev")

    async def start(self) -> None:
        if RABBITMQ_PASSWORD_ENV not in os.environ:
            os.environ[RABBITMQ_PASSWORD_ENV] = "guest"
            self._set_password_env = True
        self._connection = await aio_pika.connect(
            host=RABBITMQ_HOST,
            port=RABBITMQ_PORT,
            login=RABBITMQ_USER,
            password=os.environ[RABBITMQ_PASSWORD_ENV],
            timeout=5,
            connection_class=ClosingConnection,
        )
        publish = await self._connection.channel()
        await publish.declare_queue(DLQ, durable=True)
        arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DLQ}
        await publish.declare_queue(QUEUE, durable=True, arguments=arguments)
        consume = await self._connection.channel()
        await consume.set_qos(prefetch_count=20)
        queue = await consume.get_queue(QUEUE, ensure=False)
        await queue.consume(self._on_message)
        self._services.spawn(self._produce(publish), "eventdesk-demo:rabbitmq-checkout")

    async def close(self) -> None:
        await self._services.cancel()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        if self._set_password_env:
            os.environ.pop(RABBITMQ_PASSWORD_ENV, None)
            self._set_password_env = False

    async def _produce(self, channel: aio_pika.abc.AbstractChannel) -> None:
        while True:
            body = self._feed.next_order()
            message = aio_pika.Message(
                body.encode(),
                content_type="application/json",
                message_id=_order_id(body) or None,
                headers={"eventType": "OrderPlaced", "source": "checkout-service"},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(message, routing_key=QUEUE)
            await asyncio.sleep(1.0 / self._rate)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            self._feed.check(message.body.decode("utf-8", "replace"))
        except Exception:
            # The broker moves it to DLQ and writes x-death: reason "rejected".
            await message.reject(requeue=False)
            self.rejected += 1
            return
        await message.ack()


Demo = KafkaDemo | RabbitMQDemo


async def start_local_demos(
    feed: OrderFeed, *, rate: float, probe: Callable[[str, int], bool] = port_open
) -> list[Demo]:
    """The demos whose local broker answers; one that fails to start is left out, logged."""
    wanted: list[Demo] = []
    if probe(KAFKA_HOST, KAFKA_PORT):
        wanted.append(KafkaDemo(feed, rate=rate))
    if probe(RABBITMQ_HOST, RABBITMQ_PORT):
        wanted.append(RabbitMQDemo(feed, rate=rate))
    started: list[Demo] = []
    for demo in wanted:
        try:
            await asyncio.wait_for(demo.start(), 20)
        except Exception:
            log.warning("Demo on the local %s left out", type(demo).__name__, exc_info=True)
            await demo.close()
            continue
        started.append(demo)
    return started


def _order_id(body: str) -> str:
    try:
        order = json.loads(body)
    except json.JSONDecodeError:
        return ""
    return str(order.get("order_id", "")) if isinstance(order, dict) else ""
