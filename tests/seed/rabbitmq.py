"""Real dead letters on a RabbitMQ broker, for tests and the demo launcher.

The broker itself dead-letters (consumer reject, per-message TTL, a policy-configured
queue), so the x-death headers are exactly what a production broker writes. Framework
error queues (MassTransit, Spring AMQP) are published the way those frameworks publish.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import re
import urllib.parse
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import aio_pika.abc
import aiormq.exceptions
from eventdesk.connectors.errors import EndpointNotFound
from eventdesk.connectors.rabbitmq import ManagementClient

from .orders import order

_CUSTOMERS = ["c-1042", "c-2210", "c-3307", "c-4471", "c-5820"]

_DOTNET_TRACE = (
    "   at Billing.Consumers.ChargeInvoiceConsumer.Consume(ConsumeContext`1 context) in "
    "/src/Billing/Consumers/ChargeInvoiceConsumer.cs:line 57\n"
    "   at MassTransit.DependencyInjection.ScopeConsumerFactory`1.Send[TMessage]"
    "(ConsumeContext`1 context, IPipe`1 next)\n"
    "   at MassTransit.Middleware.ConsumerMessageFilter`2.Send(ConsumeContext`1 context, "
    "IPipe`1 next)"
)
_JAVA_TRACE = (
    "org.springframework.amqp.rabbit.support.ListenerExecutionFailedException: "
    "Listener method 'public void com.example.inventory.ReservationListener.onMessage"
    "(com.example.inventory.Reservation)' threw exception\n"
    "\tat org.springframework.amqp.rabbit.listener.AbstractMessageListenerContainer"
    ".wrapToListenerExecutionFailedExceptionIfNeeded(AbstractMessageListenerContainer.java:1782)\n"
    "Caused by: java.lang.IllegalStateException: Insufficient stock for SKU-USB-C-HUB\n"
    "\tat com.example.inventory.StockService.reserve(StockService.java:88)\n"
    "\tat com.example.inventory.ReservationListener.onMessage(ReservationListener.java:41)\n"
)


def seed_names(prefix: str) -> dict[str, str]:
    """The names `seed_rabbitmq` creates for a prefix (queues, exchanges, the policy)."""
    return {
        # Dead-lettered by the broker through queue arguments (reject and TTL expiry).
        "source": f"{prefix}.orders",
        "dlx": f"{prefix}.dlx",
        "dlq": f"{prefix}.orders.dlq",
        # Dead-lettered through a policy; the DLQ's name follows no convention on purpose.
        "policy_source": f"{prefix}.payments",
        "policy_dlx": f"{prefix}.payments.dlx",
        "policy_dlq": f"{prefix}.payments.parking",
        "policy": f"{prefix}.payments-dead-letters",
        # Framework error queues, filled the way the frameworks publish them.
        "masstransit_source": f"{prefix}.billing",
        "masstransit_error": f"{prefix}.billing_error",
        "spring_source": f"{prefix}.inventory",
        "spring_dlq": f"{prefix}.inventory.dlq",
    }


def _management(host: str, username: str, password: str, url: str | None) -> ManagementClient:
    return ManagementClient(url or f"http://{host}:15672", username=username, password=password)


async def _connect(
    host: str, port: int, username: str, password: str
) -> aio_pika.abc.AbstractConnection:
    return await aio_pika.connect(
        host=host,
        port=port,
        login=username,
        password=password,
        timeout=10,
        client_properties={"connection_name": "Eventdesk seed"},
    )


def _json_message(payload: Mapping[str, Any], **properties: Any) -> aio_pika.Message:
    return aio_pika.Message(
        json.dumps(payload, separators=(",", ":")).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(uuid.uuid4()),
        timestamp=datetime.now(UTC),
        **properties,
    )


async def _wait_for_count(
    channel: aio_pika.abc.AbstractChannel, queue: str, count: int, *, timeout: float = 20.0
) -> None:
    """Waits until the broker has put `count` messages into the queue (dead-lettering is async)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        declared = await channel.declare_queue(queue, passive=True)
        have = declared.declaration_result.message_count or 0
        if have >= count:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{queue} holds {have} messages, expected {count}")
        await asyncio.sleep(0.05)


async def _reject_all(queue: aio_pika.abc.AbstractQueue, count: int) -> None:
    """A consumer that gives up on every message: reject and nack with requeue=False."""
    for index in range(count):
        message = await queue.get(no_ack=False, fail=True, timeout=10)
        if index % 2:
            await message.nack(requeue=False)
        else:
            await message.reject(requeue=False)


async def dead_letter_by_reject(
    channel: aio_pika.abc.AbstractChannel, source: str, dlq: str, count: int, **properties: Any
) -> None:
    """`count` orders {"order": n} the broker dead-letters from `source` into `dlq`.

    Declares both queues, publishes (message_id "order-n" plus `properties`) and rejects
    every message as a consumer would; waits, boundedly, until all have arrived.
    """
    await channel.declare_queue(dlq)
    queue = await channel.declare_queue(
        source, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
    )
    for n in range(count):
        await channel.default_exchange.publish(
            aio_pika.Message(
                json.dumps({"order": n}).encode(), message_id=f"order-{n}", **properties
            ),
            routing_key=source,
        )
    for _ in range(count):
        message = await queue.get(no_ack=False, timeout=5)
        await message.reject(requeue=False)
    # Dead-lettering is asynchronous: wait, boundedly, until all have arrived.
    for _ in range(200):
        declared = await channel.declare_queue(dlq, passive=True)
        if declared.declaration_result.message_count >= count:
            return
        await asyncio.sleep(0.05)


async def seed_rabbitmq(
    *,
    host: str,
    port: int,
    username: str,
    password: str,
    prefix: str = "demo",
    count: int = 40,
    management_url: str | None = None,
) -> dict[str, str]:
    """Declares and fills the demo topology; returns `seed_names(prefix)`.

    `dlq` gets `count` dead letters (three quarters rejected by a consumer, one quarter
    expired by per-message TTL, one of them a gzip body that is not UTF-8); `source` keeps
    5 live messages; `policy_dlq` gets max(4, count // 8) rejected through a policy;
    `masstransit_error` gets max(3, count // 10) MassTransit faults; `spring_dlq` gets 3
    Spring AMQP republished failures. Re-seeding the same prefix adds to what is there.
    """
    names = seed_names(prefix)
    rng = random.Random(prefix)
    api = _management(host, username, password, management_url)
    connection = await _connect(host, port, username, password)
    try:
        channel = await connection.channel()

        # Dead-lettering by queue arguments: reject and per-message TTL.
        dlx = await channel.declare_exchange(
            names["dlx"], aio_pika.ExchangeType.DIRECT, durable=True
        )
        dlq = await channel.declare_queue(names["dlq"], durable=True)
        await dlq.bind(dlx, routing_key=names["source"])
        source = await channel.declare_queue(
            names["source"],
            durable=True,
            arguments={
                "x-dead-letter-exchange": names["dlx"],
                "x-dead-letter-routing-key": names["source"],
            },
        )
        before = (await channel.declare_queue(names["dlq"], passive=True)).declaration_result
        start = int(before.message_count or 0)

        expired = count // 4
        rejected = count - expired
        for number in range(rejected):
            if number == 1:
                # A compressed body, as some producers send: not valid UTF-8 text.
                payload = json.dumps(order(rng, number)).encode()
                message = aio_pika.Message(
                    gzip.compress(payload, mtime=0),
                    content_type="application/json",
                    content_encoding="gzip",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(uuid.uuid4()),
                    timestamp=datetime.now(UTC),
                    app_id="checkout-service",
                )
            else:
                message = _json_message(
                    order(rng, number),
                    app_id="checkout-service",
                    correlation_id=f"corr-{number:04d}",
                    type="OrderPlaced",
                    headers={"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"},
                )
            await channel.default_exchange.publish(message, routing_key=names["source"])
        await _reject_all(source, rejected)
        for number in range(rejected, rejected + expired):
            await channel.default_exchange.publish(
                _json_message(order(rng, number), app_id="checkout-service", expiration=0.05),
                routing_key=names["source"],
            )
        await _wait_for_count(channel, names["dlq"], start + count)
        for number in range(count, count + 5):
            await channel.default_exchange.publish(
                _json_message(order(rng, number), app_id="checkout-service"),
                routing_key=names["source"],
            )

        # Dead-lettering configured by a policy, into a quorum source queue. The policy goes
        # in first: a queue declared after it has it from the start, whereas applying a policy
        # to an existing queue is asynchronous and would drop the first dead letters.
        policy_dlx = await channel.declare_exchange(
            names["policy_dlx"], aio_pika.ExchangeType.TOPIC, durable=True
        )
        policy_dlq = await channel.declare_queue(names["policy_dlq"], durable=True)
        await policy_dlq.bind(policy_dlx, routing_key="payments.#")
        await api.put(
            f"/api/policies/%2F/{urllib.parse.quote(names['policy'], safe='')}",
            {
                "pattern": f"^{re.escape(names['policy_source'])}$",
                "apply-to": "queues",
                "priority": 10,
                "definition": {
                    "dead-letter-exchange": names["policy_dlx"],
                    "dead-letter-routing-key": "payments.failed",
                },
            },
        )
        payments = await channel.declare_queue(
            names["policy_source"], durable=True, arguments={"x-queue-type": "quorum"}
        )
        policy_start = (
            await channel.declare_queue(names["policy_dlq"], passive=True)
        ).declaration_result
        policy_count = max(4, count // 8)
        for number in range(policy_count):
            await channel.default_exchange.publish(
                _json_message(
                    {
                        "payment_id": f"PAY-{7000 + number}",
                        "order_id": f"ORD-{20240000 + number}",
                        "amount": {"value": rng.randint(10, 400), "currency": "EUR"},
                        "method": rng.choice(["card", "sepa", "paypal"]),
                    },
                    app_id="payments-service",
                    type="PaymentRequested",
                ),
                routing_key=names["policy_source"],
            )
        await _reject_all(payments, policy_count)
        await _wait_for_count(
            channel, names["policy_dlq"], int(policy_start.message_count or 0) + policy_count
        )

        # MassTransit moves faulted messages to <queue>_error with MT-* headers.
        await channel.declare_queue(names["masstransit_source"], durable=True)
        await channel.declare_queue(names["masstransit_error"], durable=True)
        for number in range(max(3, count // 10)):
            message_id = str(uuid.uuid4())
            envelope = {
                "messageId": message_id,
                "conversationId": str(uuid.uuid4()),
                "sourceAddress": f"rabbitmq://{host}/checkout",
                "destinationAddress": f"rabbitmq://{host}/{names['masstransit_source']}",
                "messageType": ["urn:message:Billing.Contracts:ChargeInvoice"],
                "message": {
                    "invoiceId": f"INV-{31000 + number}",
                    "customerId": rng.choice(_CUSTOMERS),
                    "amount": rng.randint(20, 900),
                },
                "sentTime": datetime.now(UTC).isoformat(),
            }
            fault_time = datetime.now(UTC) - timedelta(minutes=number)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    json.dumps(envelope).encode(),
                    content_type="application/vnd.masstransit+json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message_id,
                    headers={
                        "MT-Reason": "fault",
                        "MT-Fault-ExceptionType": "System.InvalidOperationException",
                        "MT-Fault-Message": (
                            f"Card declined for invoice INV-{31000 + number} (insufficient funds)"
                        ),
                        "MT-Fault-StackTrace": _DOTNET_TRACE,
                        "MT-Fault-Timestamp": fault_time.isoformat().replace("+00:00", "Z"),
                        "MT-Fault-InputAddress": f"rabbitmq://{host}/{names['masstransit_source']}",
                        "MT-Fault-MessageType": "Billing.Contracts.ChargeInvoice",
                        "MT-Fault-ConsumerType": "Billing.Consumers.ChargeInvoiceConsumer",
                        "MT-Fault-RetryCount": 3,
                        "MT-Fault-RedeliveryCount": 0,
                        "MT-Host-MachineName": "billing-7d9f8c6b5-x2k4q",
                        "MT-Host-ProcessName": "Billing.Service",
                        "MT-OriginalMessageId": message_id,
                    },
                ),
                routing_key=names["masstransit_error"],
            )

        # Spring AMQP's RepublishMessageRecoverer republishes with the exception in headers.
        await channel.declare_queue(names["spring_source"], durable=True)
        await channel.declare_queue(names["spring_dlq"], durable=True)
        for number in range(3):
            await channel.default_exchange.publish(
                _json_message(
                    {
                        "reservation_id": f"RES-{5500 + number}",
                        "sku": "SKU-USB-C-HUB",
                        "quantity": 5 + number,
                    },
                    app_id="inventory-service",
                    headers={
                        "x-exception-message": "Insufficient stock for SKU-USB-C-HUB",
                        "x-exception-stacktrace": _JAVA_TRACE,
                        # The listener consumed from the default exchange: the routing
                        # key is the queue it failed on.
                        "x-original-exchange": "",
                        "x-original-routingKey": names["spring_source"],
                        "x-exception-cause": "java.lang.IllegalStateException",
                    },
                ),
                routing_key=names["spring_dlq"],
            )
    finally:
        await connection.close()
    return names


async def fill_dead_letter_queue(
    *,
    host: str,
    port: int,
    username: str,
    password: str,
    queue: str,
    count: int,
    size: int = 1024,
) -> None:
    """Adds `count` real dead letters of about `size` bytes each to `queue` (created if absent).

    Real dead-lettering: a throwaway source queue with x-message-ttl=0 expires every message
    on arrival into `queue` through the default exchange, so each carries a broker-written
    x-death (reason "expired", queue "<queue>.filler-…"). Returns once all have arrived.
    """
    connection = await _connect(host, port, username, password)
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, durable=True)
        start = int(declared.declaration_result.message_count or 0)
        filler = f"{queue}.filler-{uuid.uuid4().hex[:6]}"
        await channel.declare_queue(
            filler,
            auto_delete=False,
            arguments={
                "x-message-ttl": 0,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            },
        )
        try:
            rng = random.Random(queue)
            padding = "x" * max(0, size - 260)
            batch: list[Any] = []
            for number in range(count):
                payload = order(rng, number)
                payload["sequence"] = number
                payload["note"] = padding
                batch.append(
                    channel.default_exchange.publish(
                        _json_message(payload, app_id="load-generator"), routing_key=filler
                    )
                )
                # Confirms come back in order; a few hundred in flight keeps it fast and bounded.
                if len(batch) >= 250:
                    await asyncio.gather(*batch)
                    batch.clear()
            await asyncio.gather(*batch)
            await _wait_for_count(channel, queue, start + count, timeout=60)
        finally:
            await channel.queue_delete(filler)
    finally:
        await connection.close()


async def remove_seed(
    *,
    host: str,
    port: int,
    username: str,
    password: str,
    names: Mapping[str, str],
    management_url: str | None = None,
) -> None:
    """Deletes what `seed_rabbitmq` created (queues, exchanges, the policy); missing is fine."""
    api = _management(host, username, password, management_url)
    try:
        await api.delete(f"/api/policies/%2F/{urllib.parse.quote(names['policy'], safe='')}")
    except EndpointNotFound:
        pass
    connection = await _connect(host, port, username, password)
    try:
        channel = await connection.channel()
        for key, name in names.items():
            if key == "policy":
                continue
            if key.endswith("dlx"):
                await channel.exchange_delete(name)
            else:
                await channel.queue_delete(name)
    finally:
        await connection.close()


async def drain_queue(
    *, host: str, port: int, username: str, password: str, queue: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Consume everything in a queue (acked): what a test asserts a replay delivered."""
    connection = await aio_pika.connect(host=host, port=port, login=username, password=password)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        got = []
        while (message := await declared.get(no_ack=True, fail=False, timeout=5)) is not None:
            got.append(message)
        return got
    finally:
        await connection.close()
