"""The client libraries' own floor: the bare copy or read each makes, nothing else.

bench_replay and bench_scan time these beside Eventdesk and the reference, so a run tells
apart the time Eventdesk adds (journal, dead-letter facts, replay headers, checks) from
the time the library takes to move or read the messages at all. Each copy keeps the
broker's guarantees that Eventdesk keeps, and nothing more:

- Kafka, aiokafka (what Eventdesk replays with) and confluent-kafka (librdkafka, which
  Eventdesk's search reads with): read the DLT, then per 1,000 records one transaction
  with the records, their keys and headers, and the offsets of a review group.
- SQS, boto3: worker threads (as many as Eventdesk's pool) each receive 10, send them
  in one SendMessageBatch and delete the accepted ones in one DeleteMessageBatch, until
  the DLQ answers empty three times in a row.
- RabbitMQ, aio-pika: consume the DLQ with manual acks, publish each message to the
  target on a confirm channel (mandatory), and ack the source once a batch of 100 is
  confirmed (one multiple ack per batch).

And the scan's floor (`confluent_scan`): confluent-kafka reading a whole topic with the
settings Eventdesk's search reads with, testing each value for a byte string.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aio_pika
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import TopicPartition as RdTopicPartition
from eventdesk.connectors.kafka_scan import FETCH_QUEUE_BACKOFF_MS

# Eventdesk's own transaction size (connectors/replay.py TRANSACTION_BATCH_SIZE).
TRANSACTION_RECORDS = 1000
CONFIRM_BATCH = 100
# Eventdesk's SQS pool (connectors/sqs.py _WORKERS).
SQS_WORKERS = 8


async def aiokafka_copy(bootstrap: str, dlt: str, target: str, count: int) -> float:
    """Seconds for aiokafka to copy `count` records of `dlt` into `target`, exactly once."""
    started = time.perf_counter()
    reader = AIOKafkaConsumer(
        dlt, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    records = []
    try:
        while len(records) < count:
            for batch in (await reader.getmany(timeout_ms=1000, max_records=5000)).values():
                records.extend(batch)
    finally:
        await reader.stop()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"floor-{uuid.uuid4().hex}"
    )
    await producer.start()
    try:
        for i in range(0, len(records), TRANSACTION_RECORDS):
            batch = records[i : i + TRANSACTION_RECORDS]
            async with producer.transaction():
                for record in batch:
                    await producer.send(
                        target, record.value, key=record.key, headers=list(record.headers)
                    )
                offsets = {TopicPartition(r.topic, r.partition): r.offset + 1 for r in batch}
                await producer.send_offsets_to_transaction(offsets, f"floor-review-{dlt}")
    finally:
        await producer.stop()
    return time.perf_counter() - started


def confluent_copy(bootstrap: str, dlt: str, target: str, count: int) -> float:
    """The same copy with confluent-kafka (librdkafka does the encoding, in C)."""
    started = time.perf_counter()
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"floor-review-{dlt}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.queue.backoff.ms": 0,
        }
    )
    try:
        reader.subscribe([dlt])
        records = []
        deadline = time.monotonic() + 120
        while len(records) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"confluent-kafka read {len(records)} of {count} in 120 s")
            records += [m for m in reader.consume(1000, 1.0) if m.error() is None]
        producer = Producer(
            {"bootstrap.servers": bootstrap, "transactional.id": f"floor-{uuid.uuid4().hex}"}
        )
        producer.init_transactions()
        for i in range(0, len(records), TRANSACTION_RECORDS):
            batch = records[i : i + TRANSACTION_RECORDS]
            producer.begin_transaction()
            for m in batch:
                producer.produce(target, m.value(), m.key(), headers=m.headers())
            offsets = {(m.topic(), m.partition()): m.offset() + 1 for m in batch}
            producer.send_offsets_to_transaction(
                [RdTopicPartition(t, p, o) for (t, p), o in offsets.items()],
                reader.consumer_group_metadata(),
            )
            producer.commit_transaction()
    finally:
        reader.close()
    return time.perf_counter() - started


def boto3_copy(sqs: Any, dlq_url: str, target_url: str) -> float:
    """Seconds for boto3, batched and in parallel, to move every message of the DLQ."""
    empty_rounds = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal empty_rounds
        while True:
            with lock:
                if empty_rounds >= 3:
                    return
            got = sqs.receive_message(
                QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            with lock:
                empty_rounds = 0 if got else empty_rounds + 1
            if not got:
                continue
            entries = []
            for i, message in enumerate(got):
                entry = {"Id": str(i), "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    entry["MessageAttributes"] = message["MessageAttributes"]
                entries.append(entry)
            sent = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
            accepted = [int(ok["Id"]) for ok in sent.get("Successful", [])]
            if accepted:
                sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": got[i]["ReceiptHandle"]} for i in accepted
                    ],
                )

    started = time.perf_counter()
    with ThreadPoolExecutor(SQS_WORKERS) as pool:
        for future in [pool.submit(worker) for _ in range(SQS_WORKERS)]:
            future.result()
    return time.perf_counter() - started


async def aio_pika_copy(
    connection: aio_pika.abc.AbstractConnection, dlq: str, target: str, count: int
) -> float:
    """Seconds for aio-pika to move `count` messages of `dlq` into `target`, confirmed."""
    started = time.perf_counter()
    source = await connection.channel(publisher_confirms=False)
    await source.set_qos(prefetch_count=1000)
    sink = await connection.channel(publisher_confirms=True)
    queue = await source.get_queue(dlq)
    moved = 0
    pending: list[tuple[aio_pika.abc.AbstractIncomingMessage, asyncio.Future]] = []
    async with queue.iterator() as messages:
        async for message in messages:
            copy = aio_pika.Message(
                message.body,
                headers=message.headers,
                message_id=message.message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            confirm = sink.default_exchange.publish(copy, routing_key=target, mandatory=True)
            pending.append((message, asyncio.ensure_future(confirm)))
            if len(pending) >= CONFIRM_BATCH or moved + len(pending) >= count:
                await asyncio.gather(*(confirmed for _, confirmed in pending))
                await pending[-1][0].ack(multiple=True)
                moved += len(pending)
                pending = []
                if moved >= count:
                    break
    return time.perf_counter() - started


__all__ = ["aio_pika_copy", "aiokafka_copy", "boto3_copy", "confluent_copy"]


def confluent_scan(bootstrap: str, topic: str, needle: bytes) -> tuple[float, int]:
    """Seconds for confluent-kafka to read every record of `topic`, and how many values
    hold `needle`: no Message, no JSON, no dead-letter facts."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"floor-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        }
    )
    started = time.perf_counter()
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([RdTopicPartition(topic, p, 0) for p in partitions])
        left, found = set(partitions), 0
        while left:
            for record in consumer.consume(num_messages=1000, timeout=0.1):
                error = record.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic}: {error.str()}")
                    left.discard(record.partition())
                elif needle in (record.value() or b""):
                    found += 1
        return time.perf_counter() - started, found
    finally:
        consumer.close()
