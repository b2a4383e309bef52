"""Sampling against the real local brokers: Kafka lag and health, queue statistics, outages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time

import aio_pika
import boto3
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from eventdesk.connectors.health import HealthState
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.kafka_review import review_group
from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.sampling import Metric, Reachability, Sampler, Snapshot
from eventdesk.connectors.sqs import SqsConnector

from tests.conftest import RabbitMQSettings, SqsSettings
from tests.connectors.snapshots import first_snapshot
from tests.seed.kafka import commit_offsets, create_topic, delete_groups

# -- helpers ---------------------------------------------------------------------------


async def _produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, count in per_partition.items():
            for i in range(count):
                await producer.send(topic, f"m{i}".encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
async def kafka_cleanup(drop_kafka_test_topics: None) -> None:
    """The topics a test made go afterwards (tests/conftest.py)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Proxy:
    """A TCP relay we can take down and bring back, standing in for a broker outage
    without touching the shared brokers."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._links):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links -= {writer, up_writer}


# -- Kafka -----------------------------------------------------------------------------


async def _lagging_group(
    bootstrap: str, name: str, produced: dict[int, int], committed: dict[int, int]
) -> tuple[str, str]:
    """Topic `name` with `produced` records per partition; group "<name>-billing" committed
    at `committed`. Returns (topic, group)."""
    topic, group = name, f"{name}-billing"
    await create_topic(bootstrap, topic, partitions=len(produced))
    await _produce(bootstrap, topic, produced)
    await commit_offsets(bootstrap, group, topic, committed)
    return topic, group


@pytest.mark.kafka
async def test_kafka_lag_finds_a_moved_group_coordinator_again(
    kafka_bootstrap: str, unique_name: str, kafka_cleanup: None
) -> None:
    _topic, group = await _lagging_group(kafka_bootstrap, unique_name, {0: 5}, {0: 2})

    async with KafkaConnector(kafka_bootstrap) as connector:
        first = await connector.consumer_group_lag()
        # Each group's coordinator is asked once, then remembered for later rounds...
        coordinator = connector._coordinators[group]
        # ... and a remembered one that is gone (a node id no broker has) is found again.
        connector._coordinators[group] = coordinator + 1000
        second = await connector.consumer_group_lag()
        assert connector._coordinators[group] == coordinator
    for report in (first, second):
        mine = {g.group: g for g in report.groups}[group]
        assert [(p.committed, p.lag) for p in mine.partitions] == [(2, 3)]


@pytest.mark.kafka
async def test_kafka_lag_is_exact_and_falls_when_the_group_commits(
    kafka_bootstrap: str, unique_name: str, kafka_cleanup: None
) -> None:
    topic, group = await _lagging_group(kafka_bootstrap, unique_name, {0: 10, 1: 6}, {0: 4, 1: 1})

    async with KafkaConnector(kafka_bootstrap) as connector:
        report = await connector.consumer_group_lag()
    mine = {g.group: g for g in report.groups}[group]
    assert {(p.partition, p.committed, p.end, p.lag) for p in mine.partitions} == {
        (0, 4, 10, 6),
        (1, 1, 6, 5),
    }
    assert mine.members == 0 and mine.state == "Empty"

    samples: list[Snapshot] = []
    async with Sampler(
        {"local": lambda: KafkaConnector(kafka_bootstrap)},
        interval=0.3,
        dead_letters={"local": ()},
        on_snapshot=samples.append,
    ) as sampler:
        first = await first_snapshot(
            sampler, lambda s: s.value(Metric.LAG, topic, group=group) is not None
        )
        assert first.reachability is Reachability.OK
        assert first.value(Metric.LAG, topic, group=group) == 11
        assert first.value(Metric.LAG, topic, group=group, partition=0) == 6
        assert first.value(Metric.MEMBERS, "", group=group) == 0
        assert first.group_states[group] == "Empty"
        # Per partition, lag only: each sample goes to the history, and committed
        # offsets per partition doubled it for nothing that reads them.
        assert {s.metric for s in first.samples if s.partition is not None} == {Metric.LAG}

        await commit_offsets(kafka_bootstrap, group, topic, {0: 9, 1: 6})
        after = await first_snapshot(
            sampler, lambda s: s.value(Metric.LAG, topic, group=group) == 1
        )
        assert after.value(Metric.LAG, topic, group=group, partition=1) == 0
        # 10 offsets in about a round or two: a finite time estimate.
        seconds = after.value(Metric.LAG_SECONDS, topic, group=group)
        assert seconds is not None and 0 < seconds < 60
    assert samples and samples[-1] is sampler.latest("local")


def _quick_sampler(bootstrap: str) -> Sampler:
    """Kafka sampled every 0.25 s and judged over 1.5 s: health changes within seconds."""
    return Sampler(
        {"local": lambda: KafkaConnector(bootstrap)},
        interval=0.25,
        window=1.5,
        dead_letters={"local": ()},
    )


@pytest.mark.kafka
async def test_a_joined_consumer_that_stops_committing_is_stalled(
    kafka_bootstrap: str, unique_name: str, kafka_cleanup: None
) -> None:
    topic, group = unique_name, f"{unique_name}-stuck"
    await create_topic(kafka_bootstrap, topic)
    await _produce(kafka_bootstrap, topic, {0: 20})
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(15):
            while not await consumer.getmany(timeout_ms=200):
                pass
        await consumer.commit({TopicPartition(topic, 0): 5})
        # From here it stays joined (heartbeats go on) but never commits again.
        async with _quick_sampler(kafka_bootstrap) as sampler:
            first = await first_snapshot(sampler, lambda s: group in s.health)
            assert first.health[group].state is HealthState.OK
            stalled = await first_snapshot(
                sampler, lambda s: s.health[group].state is not HealthState.OK, timeout=10
            )
        assert stalled.health[group].state is HealthState.STALLED, stalled.health[group]
        assert "15 messages wait" in stalled.health[group].reason
        assert stalled.value(Metric.MEMBERS, "", group=group) == 1
        assert stalled.group_states[group] == "Stable"
    finally:
        await consumer.stop()


@pytest.mark.kafka
async def test_a_group_that_vanishes_is_stopped_then_forgotten(
    kafka_bootstrap: str, unique_name: str, kafka_cleanup: None
) -> None:
    topic, group = await _lagging_group(kafka_bootstrap, unique_name, {0: 10}, {0: 4})
    async with _quick_sampler(kafka_bootstrap) as sampler:
        seen = await first_snapshot(sampler, lambda s: group in s.health)
        assert seen.value(Metric.LAG, topic, group=group) == 6
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await delete_groups(admin, [group])
        finally:
            await admin.close()
        gone = await first_snapshot(
            sampler, lambda s: s.health[group].state is not HealthState.OK, timeout=10
        )
        assert gone.health[group].state is HealthState.STOPPED, gone.health[group]
        assert "group is gone" in gone.health[group].reason
        assert gone.value(Metric.LAG, topic, group=group) is None
        # Missing for a whole window: no longer reported at all.
        await first_snapshot(sampler, lambda s: group not in s.health, timeout=10)


@pytest.mark.kafka
async def test_dead_letter_topic_depth_is_end_minus_start(
    kafka_bootstrap: str, unique_name: str, kafka_cleanup: None
) -> None:
    dlq = f"{unique_name}.DLT"
    await create_topic(kafka_bootstrap, dlq)
    await _produce(kafka_bootstrap, dlq, {0: 7})
    async with KafkaConnector(kafka_bootstrap) as connector:
        assert (await connector.consumer_group_lag()).dlq_depths[dlq] == 7
        # Once Eventdesk's review group marks records handled, only the rest count, and
        # the review group itself is not reported as a consumer.
        await commit_offsets(kafka_bootstrap, review_group(dlq), dlq, {0: 3})
        report = await connector.consumer_group_lag()
    assert report.dlq_depths[dlq] == 4
    assert review_group(dlq) not in {g.group for g in report.groups}


@pytest.mark.kafka
async def test_a_dead_kafka_port_is_unreachable_and_the_sampler_keeps_going() -> None:
    port = _free_port()
    async with Sampler(
        {"gone": lambda: KafkaConnector(f"127.0.0.1:{port}")},
        interval=0.1,
        max_backoff=0.4,
        timeout=1.0,
    ) as sampler:
        seen = [await sampler.next_snapshot(timeout=10) for _ in range(3)]
    assert [s.reachability for s in seen] == [Reachability.UNREACHABLE] * 3
    assert [s.failures for s in seen] == [1, 2, 3]
    assert all(s.error and s.samples == () for s in seen)


# -- RabbitMQ --------------------------------------------------------------------------


@pytest.mark.rabbitmq
async def test_rabbitmq_stats_follow_published_messages_and_survive_an_outage(
    rabbitmq: RabbitMQSettings, unique_name: str
) -> None:
    queue = unique_name
    connection = await aio_pika.connect(
        host=rabbitmq.host, port=rabbitmq.port, login="guest", password="guest"
    )
    proxy = _Proxy(int(rabbitmq.management_url.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, auto_delete=False)
        for i in range(5):
            await channel.default_exchange.publish(aio_pika.Message(f"{i}".encode()), queue)

        def factory() -> RabbitMQConnector:
            return RabbitMQConnector(
                **rabbitmq.credentials(), management_url=f"http://127.0.0.1:{proxy.port}"
            )

        async with Sampler(
            {"rabbit": factory},
            interval=0.5,
            max_backoff=1.0,
            timeout=2.0,
            dead_letters={"rabbit": [queue]},
        ) as sampler:
            # The management API's statistics trail the broker by a few seconds, and a new
            # queue's consumer count may be missing from the listing for a round or two.
            full = await first_snapshot(
                sampler,
                lambda s: (
                    s.value(Metric.READY, queue) == 5
                    and s.value(Metric.CONSUMERS, queue) is not None
                ),
            )
            assert full.value(Metric.DLQ_DEPTH, queue) == 5
            assert full.value(Metric.CONSUMERS, queue) == 0

            await proxy.stop()
            down = await first_snapshot(
                sampler, lambda s: s.reachability is Reachability.UNREACHABLE
            )
            assert down.value(Metric.READY, queue) == 5  # the last values, kept
            assert down.error and "management API" in down.error

            await proxy.start()
            back = await first_snapshot(sampler, lambda s: s.reachability is Reachability.OK)
            assert back.value(Metric.READY, queue) == 5
        await declared.delete(if_unused=False, if_empty=False)
    finally:
        await proxy.stop()
        await connection.close()


# -- SQS -------------------------------------------------------------------------------


@pytest.mark.sqs
async def test_sqs_queue_stats_count_visible_in_flight_and_delayed(
    sqs: SqsSettings, unique_name: str
) -> None:
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    url = client.create_queue(QueueName=unique_name)["QueueUrl"]
    try:
        for i in range(4):
            client.send_message(QueueUrl=url, MessageBody=f"m{i}")
        client.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        client.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        async with SqsConnector(region=sqs.region, endpoint_url=sqs.endpoint_url) as connector:
            stats = {q.queue: q for q in await connector.queue_stats()}
        mine = stats[unique_name].metrics
        assert (mine[Metric.VISIBLE], mine[Metric.IN_FLIGHT], mine[Metric.DELAYED]) == (3, 1, 1)
    finally:
        client.delete_queue(QueueUrl=url)


# -- history ---------------------------------------------------------------------------


@pytest.mark.kafka
async def test_sampled_lag_lands_in_the_store(
    kafka_bootstrap: str, unique_name: str, kafka_cleanup: None
) -> None:
    topic, group = unique_name, f"{unique_name}-g"
    await create_topic(kafka_bootstrap, topic)
    await _produce(kafka_bootstrap, topic, {0: 3})
    await commit_offsets(kafka_bootstrap, group, topic, {0: 1})
    with MetricsStore() as store:

        def keep(snapshot: Snapshot) -> None:
            if not snapshot.stale:
                store.add(snapshot.samples)

        started = time.time()
        async with Sampler(
            {"local": lambda: KafkaConnector(kafka_bootstrap)},
            interval=0.2,
            dead_letters={"local": ()},
            on_snapshot=keep,
        ) as sampler:
            await first_snapshot(sampler, lambda s: s.value(Metric.LAG, topic, group=group) == 2)
        key = next(
            k
            for k in store.series(connection="local")
            if k.endpoint == topic
            and k.group == group
            and k.partition is None
            and k.metric is Metric.LAG
        )
        points = store.query(key, started, time.time())
        assert points and all(value == 2 for _, value in points)
        assert os.path.dirname(store.path) == os.environ["EVENTDESK_DATA_DIR"]
