"""Realistic Kafka dead letters for tests, the demo launcher and benchmarks.

Dead letters are written byte for byte as Spring Kafka's DeadLetterPublishingRecoverer
and Kafka Connect's DLQ reporter write them, so parsing is tested against the real
wire format rather than against what Eventdesk expects to read.
"""

from __future__ import annotations

import asyncio
import json
import random
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import DeleteGroupsRequest

from .orders import order

RawHeaders = list[tuple[str, bytes]]

_LISTENER = "com.acme.orders.OrderPlacedListener"
_LISTENER_METHOD = f"public void {_LISTENER}.onOrderPlaced(com.acme.orders.OrderPlaced)"
_CONSUMER_GROUP = "order-fulfilment"
_CONNECTOR = "jdbc-sink-payments"


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    """Create a topic (an existing one is left as it is) and wait until it has leaders."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="eventdesk-seed")
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1)])
        for topic, code, *_ in response.topic_errors:
            error = kafka_errors.for_code(code)
            if code and error is not kafka_errors.TopicAlreadyExistsError:
                raise error(f"cannot create topic {topic}")
        # Producers and listings that follow at once must see the topic ready.
        deadline = time.monotonic() + 10
        while True:
            described = await admin.describe_topics()
            ready = [
                t
                for t in described
                if t["topic"] == name
                and t["partitions"]
                and all(p["leader"] >= 0 for p in t["partitions"])
            ]
            if ready:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} got no leaders within 10 s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def seed_kafka(bootstrap: str, *, prefix: str = "demo", count: int = 60) -> dict[str, str]:
    """Source topics and their dead-letter topics, as a failing system would leave them.

    - `<prefix>.orders` (3 partitions): `count` order events.
    - `<prefix>.orders.DLT` (3 partitions): `max(count // 3, 4)` Spring Kafka dead
      letters, each pointing at a real record of `<prefix>.orders`, in the same
      partition as the original (Spring's default). Failures rotate through JSON
      parse errors, validation errors, downstream timeouts and an unknown customer.
    - `<prefix>.payments` (2 partitions): `max(count // 2, 4)` payment events.
    - `<prefix>.dlq-jdbc-sink` (1 partition): `max(count // 6, 4)` Kafka Connect
      dead letters from a JDBC sink; the first has a binary (non-UTF-8) payload.

    Returns the names under the keys "orders", "spring_dlt", "payments", "connect_dlq".
    """
    names = {
        "orders": f"{prefix}.orders",
        "spring_dlt": f"{prefix}.orders.DLT",
        "payments": f"{prefix}.payments",
        "connect_dlq": f"{prefix}.dlq-jdbc-sink",
    }
    await asyncio.gather(
        create_topic(bootstrap, names["orders"], 3),
        create_topic(bootstrap, names["spring_dlt"], 3),
        create_topic(bootstrap, names["payments"], 2),
        create_topic(bootstrap, names["connect_dlq"], 1),
    )
    rng = random.Random(f"{prefix}/{count}")
    now_ms = int(time.time() * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="eventdesk-seed", acks=1)
    await producer.start()
    try:
        orders = [order(rng, i) for i in range(count)]
        placed = await _send_all(
            producer,
            names["orders"],
            [
                _Record(key=o["orderId"].encode(), value=_json(o), timestamp_ms=now_ms - 3_600_000)
                for o in orders
            ],
        )
        dead = [
            _spring_dead_letter(rng, names["orders"], orders[i], placed[i], i)
            for i in _spread(len(orders), max(count // 3, 4))
        ]
        await _send_all(producer, names["spring_dlt"], dead)

        payments = [_payment(rng, i, orders) for i in range(max(count // 2, 4))]
        paid = await _send_all(
            producer,
            names["payments"],
            [
                _Record(
                    key=p["paymentId"].encode(), value=_json(p), timestamp_ms=now_ms - 1_800_000
                )
                for p in payments
            ],
        )
        failed = [
            _connect_dead_letter(names["payments"], payments[i], paid[i], n)
            for n, i in enumerate(_spread(len(payments), max(count // 6, 4)))
        ]
        await _send_all(producer, names["connect_dlq"], failed)
    finally:
        await producer.stop()
    return names


async def fill_topic(
    bootstrap: str,
    topic: str,
    count: int,
    size: int = 1024,
    *,
    dead_letter: bool = True,
    partitions: int = 1,
) -> None:
    """`count` records of exactly `size` bytes, fast: whole batches are built by hand.

    The topic is created with `partitions` if missing. Record i (key `ORD-%08d` % i)
    goes to partition i % partitions, so each partition holds its share in order.
    With `dead_letter`, every record carries Spring Kafka's DLT headers pointing at
    the topic's source (`x` for `x.DLT`, else `<topic>.source`).
    """
    await create_topic(bootstrap, topic, partitions)
    source = topic.removesuffix(".DLT") if topic.endswith(".DLT") else f"{topic}.source"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="eventdesk-seed",
        acks=1,
        # Just under the broker's default max.message.bytes (1 MiB + 12).
        max_batch_size=1_000_000,
    )
    await producer.start()
    try:
        # A fixed body with a numbered head: realistic enough to read, cheap to make.
        filler = b"x" * size
        now_ms = int(time.time() * 1000)
        # Built once: only the original partition and offset differ from record to record.
        template = _spring_headers(
            source, 0, 0, now_ms - 60_000, _FAILURES[2], "ORD-00000000", "CUST-1000"
        )
        per_record = {"kafka_dlt-original-partition", "kafka_dlt-original-offset"}
        deliveries = []
        batches = [producer.create_batch() for _ in range(partitions)]
        for i in range(count):
            partition = i % partitions
            head = b'{"orderId":"ORD-%08d","pad":"' % i
            value = (head + filler)[: size - 2] + b'"}' if size >= len(head) + 2 else filler
            headers = []
            if dead_letter:
                headers = [(name, v) for name, v in template if name not in per_record]
                headers.insert(5, ("kafka_dlt-original-partition", struct.pack(">i", partition)))
                headers.insert(6, ("kafka_dlt-original-offset", struct.pack(">q", i // partitions)))
            record = {"key": b"ORD-%08d" % i, "value": value, "timestamp": now_ms}
            if batches[partition].append(**record, headers=headers) is None:
                deliveries.append(
                    await producer.send_batch(batches[partition], topic, partition=partition)
                )
                batches[partition] = producer.create_batch()
                batches[partition].append(**record, headers=headers)
        for partition, batch in enumerate(batches):
            if batch.record_count():
                deliveries.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


# -- records -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = None


@dataclass(frozen=True)
class _Placed:
    partition: int
    offset: int
    timestamp_ms: int


async def _send_all(
    producer: AIOKafkaProducer, topic: str, records: Sequence[_Record]
) -> list[_Placed]:
    futures = [
        await producer.send(
            topic,
            value=r.value,
            key=r.key,
            partition=r.partition,
            timestamp_ms=r.timestamp_ms,
            headers=list(r.headers),
        )
        for r in records
    ]
    metadata = await asyncio.gather(*futures)
    return [_Placed(m.partition, m.offset, m.timestamp) for m in metadata]


def _spread(total: int, wanted: int) -> list[int]:
    """`wanted` indexes spread evenly over `total` (fewer if total is smaller)."""
    wanted = min(wanted, total)
    return [i * total // wanted for i in range(wanted)] if wanted else []


def _json(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _payment(rng: random.Random, i: int, orders: Sequence[dict]) -> dict:
    order = orders[i % len(orders)] if orders else {"orderId": f"ORD-2025-{i:06d}", "total": "1.00"}
    return {
        "paymentId": f"PAY-{rng.getrandbits(40):010x}",
        "orderId": order["orderId"],
        "amount": order["total"],
        "currency": "EUR",
        "method": rng.choice(["card", "sepa_debit", "paypal"]),
        "status": "CAPTURED",
    }


# -- Spring Kafka ------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    cause_fqcn: str
    cause_message: str  # "{order}" and "{customer}" are filled in
    frames: tuple[str, ...]
    breaks_payload: bool = False


_FAILURES = (
    _Failure(
        "org.springframework.kafka.support.serializer.DeserializationException",
        "failed to deserialize; nested exception is com.fasterxml.jackson.core.io."
        "JsonEOFException: Unexpected end-of-input: expected close marker for Object "
        '(start marker at [Source: (byte[])"{...}"; line: 1, column: 1])',
        (
            "org.springframework.kafka.support.serializer.ErrorHandlingDeserializer"
            ".deserializationException(ErrorHandlingDeserializer.java:216)",
            "org.springframework.kafka.support.serializer.ErrorHandlingDeserializer"
            ".deserialize(ErrorHandlingDeserializer.java:191)",
        ),
        breaks_payload=True,
    ),
    _Failure(
        "org.springframework.messaging.handler.annotation.support.MethodArgumentNotValidException",
        "Could not resolve method parameter at index 0 in " + _LISTENER_METHOD + ": 1 error(s): "
        "[Field error in object 'orderPlaced' on field 'lines[0].quantity': rejected value [0]; "
        "codes [Positive.orderPlaced.lines[0].quantity]; default message [must be greater than 0]]",
        (
            "org.springframework.messaging.handler.annotation.support.PayloadMethodArgumentResolver"
            ".validate(PayloadMethodArgumentResolver.java:297)",
            "org.springframework.messaging.handler.annotation.support.PayloadMethodArgumentResolver"
            ".resolveArgument(PayloadMethodArgumentResolver.java:150)",
        ),
    ),
    _Failure(
        "org.springframework.web.client.ResourceAccessException",
        'I/O error on POST request for "http://inventory-service:8080/api/v2/reservations": '
        "Read timed out",
        (
            "org.springframework.web.client.RestTemplate.createResourceAccessException"
            "(RestTemplate.java:905)",
            "org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:885)",
            "com.acme.orders.inventory.InventoryClient.reserve(InventoryClient.java:64)",
        ),
    ),
    _Failure(
        "com.acme.orders.UnknownCustomerException",
        "Customer {customer} does not exist (order {order})",
        ("com.acme.orders.CustomerDirectory.require(CustomerDirectory.java:41)",),
    ),
)


def _spring_dead_letter(
    rng: random.Random, topic: str, order: dict, placed: _Placed, i: int
) -> _Record:
    failure = _FAILURES[i % len(_FAILURES)]
    value = _json(order)
    if failure.breaks_payload:
        value = value[: rng.randint(20, len(value) - 10)]
    elif "MethodArgumentNotValid" in failure.cause_fqcn:
        order = {**order, "lines": [{**order["lines"][0], "quantity": 0}, *order["lines"][1:]]}
        value = _json(order)
    headers = _spring_headers(
        topic,
        placed.partition,
        placed.offset,
        placed.timestamp_ms,
        failure,
        order["orderId"],
        order["customerId"],
    )
    return _Record(
        key=order["orderId"].encode(),
        value=value,
        timestamp_ms=placed.timestamp_ms + 1000 + i * 137,
        headers=headers,
        partition=placed.partition,
    )


def _spring_headers(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    failure: _Failure,
    order_id: str,
    customer: str,
) -> RawHeaders:
    """The headers DeadLetterPublishingRecoverer adds, in its order and encodings."""
    cause = failure.cause_message.replace("{order}", order_id).replace("{customer}", customer)
    wrapper = "org.springframework.kafka.listener.ListenerExecutionFailedException"
    message = f"Listener method '{_LISTENER_METHOD}' threw exception; {cause}"
    trace = "\n\t".join(
        [
            f"{wrapper}: Listener method '{_LISTENER_METHOD}' threw exception",
            "at org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer"
            ".decorateException(KafkaMessageListenerContainer.java:2945)",
            "at org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer"
            ".doInvokeOnMessage(KafkaMessageListenerContainer.java:2859)",
            "at org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer"
            ".run(KafkaMessageListenerContainer.java:1314)",
            "at java.base/java.lang.Thread.run(Thread.java:1583)",
        ]
    )
    trace += "\n" + "\n\t".join(
        [f"Caused by: {failure.cause_fqcn}: {cause}", *(f"at {f}" for f in failure.frames)]
    )
    trace += f"\n\tat {_LISTENER}.onOrderPlaced(OrderPlacedListener.java:52)\n\t... 14 more"
    return [
        ("kafka_dlt-exception-fqcn", wrapper.encode()),
        ("kafka_dlt-exception-cause-fqcn", failure.cause_fqcn.encode()),
        ("kafka_dlt-exception-message", message.encode()),
        ("kafka_dlt-exception-stacktrace", trace.encode()),
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", timestamp_ms)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", _CONSUMER_GROUP.encode()),
    ]


# -- Kafka Connect -----------------------------------------------------------------

# A Confluent wire-format Avro record (magic 0, schema id 42) that a misconfigured
# producer wrote into a JSON topic: the classic binary dead letter.
BINARY_PAYLOAD = (
    b"\x00\x00\x00\x00\x2a\x1ePAY-00ab12cd34\x1aORD-2025-100007\x06EUR\xfa\x0f\x00\xff\xfe"
)

_CONNECT_FAILURES = (
    (
        "VALUE_CONVERTER",
        "org.apache.kafka.connect.json.JsonConverter",
        "org.apache.kafka.connect.errors.DataException",
        "Converting byte[] to Kafka Connect data failed due to serialization error of topic "
        "{topic}: ",
        "org.apache.kafka.connect.json.JsonConverter.toConnectData(JsonConverter.java:333)",
    ),
    (
        "TRANSFORMATION",
        "org.apache.kafka.connect.transforms.Cast$Value",
        "org.apache.kafka.connect.errors.DataException",
        "Unexpected type for Cast transformation: STRING",
        "org.apache.kafka.connect.transforms.Cast.convertFieldType(Cast.java:361)",
    ),
    (
        "TASK_PUT",
        "io.confluent.connect.jdbc.sink.JdbcSinkTask",
        "java.sql.BatchUpdateException",
        'Batch entry 0 INSERT INTO "payments" ("paymentId","orderId","amount","currency") '
        "VALUES ('{payment}','{order}','{amount}','EUR') was aborted: ERROR: duplicate key "
        'value violates unique constraint "payments_pkey"',
        "io.confluent.connect.jdbc.sink.JdbcDbWriter.write(JdbcDbWriter.java:91)",
    ),
)


def _connect_dead_letter(topic: str, payment: dict, placed: _Placed, n: int) -> _Record:
    stage, klass, exception, template, frame = _CONNECT_FAILURES[n % len(_CONNECT_FAILURES)]
    # The first is the binary one, and it fails where binary fails: in the converter.
    value = BINARY_PAYLOAD if n == 0 else _json(payment)
    message = (
        template.replace("{topic}", topic)
        .replace("{payment}", payment["paymentId"])
        .replace("{order}", payment["orderId"])
        .replace("{amount}", payment["amount"])
    )
    trace = "\n\t".join(
        [
            f"{exception}: {message}",
            f"at {frame}",
            "at org.apache.kafka.connect.runtime.WorkerSinkTask.convertAndTransformRecord"
            "(WorkerSinkTask.java:528)",
            "at org.apache.kafka.connect.runtime.errors.RetryWithToleranceOperator"
            ".execAndRetry(RetryWithToleranceOperator.java:180)",
            "at java.base/java.lang.Thread.run(Thread.java:1583)",
        ]
    )
    text = {
        "__connect.errors.topic": topic,
        "__connect.errors.partition": str(placed.partition),
        "__connect.errors.offset": str(placed.offset),
        "__connect.errors.connector.name": _CONNECTOR,
        "__connect.errors.task.id": "0",
        "__connect.errors.stage": stage,
        "__connect.errors.class.name": klass,
        "__connect.errors.exception.class.name": exception,
        "__connect.errors.exception.message": message,
        "__connect.errors.exception.stacktrace": trace,
    }
    return _Record(
        key=payment["paymentId"].encode(),
        value=value,
        timestamp_ms=placed.timestamp_ms + 5000 + n * 211,
        headers=[(name, v.encode()) for name, v in text.items()],
        partition=0,
    )


async def commit_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit offsets for a group without joining it, as an offset-reset tool would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def delete_topics(bootstrap: str, names: Sequence[str] = (), *, prefix: str = "") -> None:
    """Delete `names`, and with `prefix` every topic whose name starts with it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="eventdesk-seed")
    await admin.start()
    try:
        doomed = list(names)
        if prefix:
            doomed += [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def delete_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> None:
    """aiokafka's admin has no delete_consumer_groups: send DeleteGroups ourselves."""
    if not groups:
        return
    coordinator = await admin.find_coordinator(groups[0])  # one node: it coordinates all
    response = await admin._send_request(DeleteGroupsRequest(groups), coordinator)
    for group, code in response.results:
        error = kafka_errors.for_code(code)
        if code and error is not kafka_errors.GroupIdNotFoundError:
            raise error(f"cannot delete consumer group {group}")


async def read_committed(bootstrap: str, topic: str, *, timeout: float = 60) -> list:
    """Every committed record of the topic (read_committed: aborted ones never show)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # For a read_committed consumer the end is the last stable offset.
        ends = await consumer.end_offsets(tps)
        records = []
        async with asyncio.timeout(timeout):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=100)).values():
                    records.extend(batch)
        return records
    finally:
        await consumer.stop()
