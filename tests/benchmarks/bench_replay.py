"""Replay 10,000 1 KB dead letters per broker with Eventdesk's engine, beside a reference tool.

    python -m tests.benchmarks.bench_replay [--count N] [--brokers kafka,rabbitmq,sqs,sqs-moto]
        [--moto-count N] [--profile] [--no-warm-up]

Per broker a DLQ is filled, then Eventdesk replays all of it the way `eventdesk replay
--all --to TARGET` does (connect, browse every message, `replay(...)` with the journal;
the CLI's default options). Then a fresh, identical DLQ is moved by the reference. Both
are timed after an untimed round of the same (warm-up), so neither pays for the JIT of
the brokers' JVMs:

- Kafka: `kcat -C` reading the DLT piped into `kcat -P` writing the target (key and
  value only: kcat's producer cannot take per-message headers). Eventdesk runs its
  normal Kafka path, exactly once (one transaction per batch that also commits the
  DLT's review group).
- RabbitMQ: a dynamic shovel made through the management API (ack-mode on-confirm,
  src-delete-after queue-length), timed from its creation until the DLQ is empty and
  the target holds every message.
- SQS: a plain boto3 loop, one message at a time: receive, send, delete. "sqs" runs on
  ElasticMQ; "sqs-moto" on moto, with --moto-count messages (moto slows with the queue).

Beside them, the client libraries' own floor (library_floor.py): the bare copy aiokafka,
confluent-kafka, aio-pika and boto3 make with the same guarantees and
nothing of Eventdesk's, so a run shows how much of the time is Eventdesk's and how much
the library's.

After every run the counts are checked (target holds exactly N, DLQ empty or, for
Kafka, every record marked handled); wrong counts are printed loudly and the script
exits 1. Everything it creates is deleted at the end. Not part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import functools
import io
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import aio_pika
import boto3
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from eventdesk.connectors.errors import EndpointNotFound, EventdeskError
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import BrokerKind, Message
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.rabbitmq import ManagementClient
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER, ReplayOptions, replay

from tests.conftest import (
    ELASTICMQ_PORT,
    KAFKA_PORT,
    MOTO_PORT,
    RABBITMQ_MANAGEMENT_PORT,
    RABBITMQ_PORT,
)
from tests.seed.kafka import create_topic, fill_topic, read_committed
from tests.seed.rabbitmq import fill_dead_letter_queue
from tests.seed.sqs import fill_queue

from . import library_floor
from .report import machine

KAFKA_BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_MANAGEMENT = f"http://127.0.0.1:{RABBITMQ_MANAGEMENT_PORT}"
# The broker's stock local account (as in tests/conftest.py): not a secret.
RABBITMQ_USER = RABBITMQ_PASSWORD = "guest"
RABBITMQ_PASSWORD_ENV = "EVENTDESK_BENCH_RABBIT_PASSWORD"
# ElasticMQ carries the 10,000: moto's SQS slows with the queue's length (at 2,000 queued a
# ReceiveMessage of 10 takes 3 s), so moto runs a few hundred, for the record.
ELASTICMQ_ENDPOINT = f"http://127.0.0.1:{ELASTICMQ_PORT}"
MOTO_ENDPOINT = f"http://127.0.0.1:{MOTO_PORT}"
SQS_REGION = "us-east-1"
SHOVEL_PLUGINS = ("rabbitmq_shovel", "rabbitmq_shovel_management")
BROKERS = ("kafka", "rabbitmq", "sqs", "sqs-moto")
# The targets: Eventdesk's rate at least this multiple of the reference's.
TARGETS = {"kafka": 0.5, "rabbitmq": 1.0, "sqs": 5.0, "sqs-moto": 5.0}
# The port each run needs, and the script that starts what listens there.
PORTS = {
    "kafka": (KAFKA_PORT, "kafka.sh"),
    "rabbitmq": (RABBITMQ_MANAGEMENT_PORT, "rabbitmq.sh"),
    "sqs": (ELASTICMQ_PORT, "elasticmq.sh"),
    "sqs-moto": (MOTO_PORT, "moto.sh"),
}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class CountsWrong(Exception):
    """A run left the wrong number of messages somewhere: its figure means nothing."""


@dataclass
class Run:
    """One timed move of the DLQ into the target, and what the counts said after it."""

    seconds: float
    checked: str = ""
    phases: str = ""


@dataclass
class BrokerFigures:
    broker: str
    title: str
    reference_name: str
    count: int
    eventdesk: Run | None = None
    reference: Run | None = None
    # The client libraries' bare copies (library_floor.py), by what made them.
    floors: dict[str, Run] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# -- Eventdesk's side: what `eventdesk replay --all --to TARGET` does ----------------------


async def browse_all(browser) -> list[Message]:  # type: ignore[no-untyped-def]
    messages: list[Message] = []
    while True:
        page = await browser.next_page(timeout=60.0)
        messages.extend(page.messages)
        if not page.more:
            if browser.incomplete:
                raise CountsWrong(f"the browse stopped early: {browser.incomplete}")
            return messages


async def eventdesk_replay(profile: ConnectionProfile, dlq: str, target: str, count: int) -> Run:
    """Connect, browse all, replay with the journal: cli._act's steps and default options."""
    options = ReplayOptions()
    started = time.perf_counter()
    with Journal.open() as journal:
        async with create_connector(profile) as connector:
            async with connector.browse(dlq) as browser:
                letters = await browse_all(browser)
                browsed = time.perf_counter()
                if len(letters) != count:
                    raise CountsWrong(f"Eventdesk browsed {len(letters)} of {count} in {dlq}")
                result = await replay(
                    connector,
                    browser,
                    letters,
                    connector,
                    target,
                    options=options,
                    journal=journal,
                    source_connection=profile.name,
                    target_connection=profile.name,
                )
                replayed = time.perf_counter()
    if not result.ok:
        raise CountsWrong(
            f"Eventdesk's replay ended {result.status}: {result.succeeded} of {result.total} "
            f"replayed, {result.failed} failed ({result.detail})"
        )
    return Run(
        seconds=replayed - started,
        phases=f"connect + browse {browsed - started:.1f} s, replay {replayed - browsed:.1f} s",
    )


def profiled(enabled: bool, what: Callable[[], Awaitable[Run]]) -> Run:
    """Run `what` on a fresh loop; with `enabled`, print where the time went (cProfile)."""
    if not enabled:
        return asyncio.run(what())
    profiler = cProfile.Profile()
    run = profiler.runcall(asyncio.run, what())
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(20)
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(35)
    print(text.getvalue(), file=sys.stderr)
    return run


# -- Kafka ----------------------------------------------------------------------------------


def kafka_profile() -> ConnectionProfile:
    return ConnectionProfile(
        "bench kafka", BrokerKind.KAFKA, {"bootstrap_servers": KAFKA_BOOTSTRAP}
    )


async def fill_kafka(dlt: str, target: str, count: int) -> None:
    await create_topic(KAFKA_BOOTSTRAP, target, 3)
    await fill_topic(KAFKA_BOOTSTRAP, dlt, count, size=1024, partitions=3)


async def kafka_unhandled(dlt: str) -> int:
    """Records of the DLT its review group does not mark handled (replayed or discarded)."""
    async with KafkaConnector(KAFKA_BOOTSTRAP) as connector:
        states = await connector.handled_offsets(dlt)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(dlt, p) for p in states])
    finally:
        await consumer.stop()
    return sum(end - states[tp.partition].handled_between(0, end) for tp, end in ends.items())


async def kafka_target_keys(target: str, *, by_replay_header: bool) -> collections.Counter[str]:
    records = await read_committed(KAFKA_BOOTSTRAP, target)
    if by_replay_header:
        return collections.Counter(dict(r.headers)[ORIGINAL_ID_HEADER].decode() for r in records)
    return collections.Counter((r.key or b"").decode() for r in records)


async def check_kafka(dlt: str, target: str, count: int, *, eventdesk: bool) -> str:
    keys = await kafka_target_keys(target, by_replay_header=eventdesk)
    total, distinct = sum(keys.values()), len(keys)
    if total != count or distinct != count:
        raise CountsWrong(f"{target} holds {total} records ({distinct} distinct), not {count}")
    if not eventdesk:
        return f"target {total:,} (all distinct); DLT untouched (kcat marks nothing handled)"
    unhandled = await kafka_unhandled(dlt)
    if unhandled:
        raise CountsWrong(f"{dlt} still has {unhandled} unhandled records after the replay")
    return f"target {total:,} (all distinct, read_committed); DLT 0 unhandled"


def kcat_pipe(dlt: str, target: str) -> float:
    """Seconds for `kcat -C … | kcat -P …` to copy every record (key and value) of the DLT."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        raise SystemExit("kcat is not installed: apt-get install kcat")
    started = time.perf_counter()
    read = [kcat, "-C", "-b", KAFKA_BOOTSTRAP, "-t", dlt, "-o", "beginning", "-e", "-q"]
    reader = subprocess.Popen([*read, "-f", "%k\t%s\n"], stdout=subprocess.PIPE)
    writer = subprocess.Popen(
        [kcat, "-P", "-b", KAFKA_BOOTSTRAP, "-t", target, "-K", "\t"], stdin=reader.stdout
    )
    assert reader.stdout is not None
    reader.stdout.close()  # the writer owns the pipe now; it sees EOF when the reader ends
    codes = (reader.wait(), writer.wait())
    elapsed = time.perf_counter() - started
    if codes != (0, 0):
        raise CountsWrong(f"kcat exited {codes} (reader, writer)")
    return elapsed


async def delete_topics(names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if mine := [n for n in names if n in existing]:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def bench_kafka(count: int, prefix: str, figures: BrokerFigures, profile: bool) -> None:
    dlt, target = f"{prefix}.orders.DLT", f"{prefix}.orders"
    ref_dlt, ref_target = f"{prefix}.ref.orders.DLT", f"{prefix}.ref.orders"
    made: list[str] = []
    try:
        asyncio.run(fill_kafka(dlt, target, count))
        run = profiled(profile, lambda: eventdesk_replay(kafka_profile(), dlt, target, count))
        run.checked = asyncio.run(check_kafka(dlt, target, count, eventdesk=True))
        figures.eventdesk = run

        asyncio.run(fill_kafka(ref_dlt, ref_target, count))
        reference = Run(kcat_pipe(ref_dlt, ref_target))
        reference.checked = asyncio.run(check_kafka(ref_dlt, ref_target, count, eventdesk=False))
        figures.reference = reference

        for name, copy in KAFKA_FLOORS.items():
            floor_dlt, floor_target = f"{prefix}.{name}.orders.DLT", f"{prefix}.{name}.orders"
            made.extend([floor_dlt, floor_target])
            asyncio.run(fill_kafka(floor_dlt, floor_target, count))
            floor = Run(copy(floor_dlt, floor_target, count))
            floor.checked = asyncio.run(
                check_kafka(floor_dlt, floor_target, count, eventdesk=False)
            ).split(";")[0]
            figures.floors[f"bare {name} exactly-once copy"] = floor
    finally:
        # The review group's offsets go with the DLT; the empty group then expires.
        asyncio.run(delete_topics([dlt, target, ref_dlt, ref_target, *made]))


# The libraries' own floor: the same exactly-once copy with nothing of Eventdesk's.
KAFKA_FLOORS: dict[str, Callable[[str, str, int], float]] = {
    "aiokafka": lambda dlt, target, count: asyncio.run(
        library_floor.aiokafka_copy(KAFKA_BOOTSTRAP, dlt, target, count)
    ),
    "confluent-kafka": functools.partial(library_floor.confluent_copy, KAFKA_BOOTSTRAP),
}


# -- RabbitMQ -------------------------------------------------------------------------------


def rabbitmq_profile() -> ConnectionProfile:
    os.environ[RABBITMQ_PASSWORD_ENV] = RABBITMQ_PASSWORD
    return ConnectionProfile(
        "bench rabbitmq",
        BrokerKind.RABBITMQ,
        {
            "host": RABBITMQ_HOST,
            "port": str(RABBITMQ_PORT),
            "username": RABBITMQ_USER,
            "management_url": RABBITMQ_MANAGEMENT,
            "password_env": RABBITMQ_PASSWORD_ENV,
        },
    )


async def amqp() -> aio_pika.abc.AbstractConnection:
    return await aio_pika.connect(
        host=RABBITMQ_HOST, port=RABBITMQ_PORT, login=RABBITMQ_USER, password=RABBITMQ_PASSWORD
    )


async def fill_rabbitmq(dlq: str, target: str, count: int) -> None:
    """Real dead-lettering (x-message-ttl=0 expiry, broker-written x-death), and the target."""
    connection = await amqp()
    try:
        channel = await connection.channel()
        await channel.declare_queue(target, durable=True)
    finally:
        await connection.close()
    await fill_dead_letter_queue(
        host=RABBITMQ_HOST,
        port=RABBITMQ_PORT,
        username=RABBITMQ_USER,
        password=RABBITMQ_PASSWORD,
        queue=dlq,
        count=count,
        size=1024,
    )


async def queue_depths(channel: aio_pika.abc.AbstractChannel, *queues: str) -> list[int]:
    depths = []
    for queue in queues:
        declared = await channel.declare_queue(queue, passive=True)
        depths.append(int(declared.declaration_result.message_count or 0))
    return depths


async def check_rabbitmq(dlq: str, target: str, count: int) -> str:
    """Ready messages per queue; nothing may stay unacked either (the queue's full count)."""
    connection = await amqp()
    try:
        left, arrived = await queue_depths(await connection.channel(), dlq, target)
    finally:
        await connection.close()
    if arrived != count or left != 0:
        raise CountsWrong(f"{target} holds {arrived} and {dlq} {left}; expected {count} and 0")
    return f"target {arrived:,}; DLQ 0"


def ensure_shovel_plugins() -> None:
    """The shovel plugins on the running broker (tests/brokers/rabbitmq.sh enables them at
    configure time; a broker configured before that gets them here, online)."""
    if shutil.which("rabbitmq-plugins") is None:
        raise SystemExit("rabbitmq-plugins not found: run this on the broker's machine")
    listed = subprocess.run(
        ["rabbitmq-plugins", "list", "--enabled", "--minimal"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    missing = [p for p in SHOVEL_PLUGINS if p not in listed]
    if not missing:
        print(f"rabbitmq: {', '.join(SHOVEL_PLUGINS)} already enabled", flush=True)
        return
    subprocess.run(["rabbitmq-plugins", "enable", *missing], capture_output=True, check=True)
    print(f"rabbitmq: enabled {', '.join(missing)} online (rabbitmq-plugins enable)", flush=True)


def shovel_path(name: str) -> str:
    return f"/api/parameters/shovel/%2F/{urllib.parse.quote(name, safe='')}"


async def shovel_move(dlq: str, target: str, count: int, name: str) -> float:
    """Seconds from creating the shovel until the DLQ is empty and the target holds `count`."""
    api = ManagementClient(RABBITMQ_MANAGEMENT, username=RABBITMQ_USER, password=RABBITMQ_PASSWORD)
    definition = {
        "value": {
            # "amqp://" is the local node itself: no URI with a password in it.
            "src-protocol": "amqp091",
            "src-uri": "amqp://",
            "src-queue": dlq,
            "dest-protocol": "amqp091",
            "dest-uri": "amqp://",
            "dest-queue": target,
            "ack-mode": "on-confirm",
            "src-delete-after": "queue-length",
        }
    }
    connection = await amqp()
    try:
        channel = await connection.channel()
        started = time.perf_counter()
        await api.put(shovel_path(name), definition)
        deadline = started + 600
        while await queue_depths(channel, dlq, target) != [0, count]:
            if time.perf_counter() > deadline:
                raise CountsWrong(f"the shovel did not finish within 600 s ({name})")
            await asyncio.sleep(0.02)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def delete_shovel(name: str) -> None:
    api = ManagementClient(RABBITMQ_MANAGEMENT, username=RABBITMQ_USER, password=RABBITMQ_PASSWORD)
    try:
        await api.delete(shovel_path(name))
    except EndpointNotFound:
        pass  # src-delete-after removed it when it was done


async def delete_queues(names: list[str]) -> None:
    connection = await amqp()
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


async def aio_pika_floor(dlq: str, target: str, count: int) -> float:
    connection = await amqp()
    try:
        return await library_floor.aio_pika_copy(connection, dlq, target, count)
    finally:
        await connection.close()


def bench_rabbitmq(count: int, prefix: str, figures: BrokerFigures, profile: bool) -> None:
    dlq, target = f"{prefix}.dlq", f"{prefix}.target"
    ref_dlq, ref_target = f"{prefix}.ref.dlq", f"{prefix}.ref.target"
    floor_dlq, floor_target = f"{prefix}.floor.dlq", f"{prefix}.floor.target"
    shovel = f"{prefix}.shovel"
    try:
        ensure_shovel_plugins()
        asyncio.run(fill_rabbitmq(dlq, target, count))
        run = profiled(profile, lambda: eventdesk_replay(rabbitmq_profile(), dlq, target, count))
        run.checked = asyncio.run(check_rabbitmq(dlq, target, count))
        figures.eventdesk = run

        asyncio.run(fill_rabbitmq(ref_dlq, ref_target, count))
        reference = Run(asyncio.run(shovel_move(ref_dlq, ref_target, count, shovel)))
        reference.checked = asyncio.run(check_rabbitmq(ref_dlq, ref_target, count))
        figures.reference = reference

        asyncio.run(fill_rabbitmq(floor_dlq, floor_target, count))
        floor = Run(asyncio.run(aio_pika_floor(floor_dlq, floor_target, count)))
        floor.checked = asyncio.run(check_rabbitmq(floor_dlq, floor_target, count))
        figures.floors["bare aio-pika confirmed copy"] = floor
    finally:
        asyncio.run(delete_shovel(shovel))
        asyncio.run(delete_queues([dlq, target, ref_dlq, ref_target, floor_dlq, floor_target]))


# -- SQS ------------------------------------------------------------------------------------


def sqs_client(endpoint: str):  # type: ignore[no-untyped-def]
    # The local servers take any key; without one boto3 would look for real credentials.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return boto3.client("sqs", endpoint_url=endpoint, region_name=SQS_REGION)


def sqs_profile(endpoint: str) -> ConnectionProfile:
    sqs_client(endpoint)  # sets the dummy credentials the connector's boto3 reads too
    return ConnectionProfile(
        "bench sqs", BrokerKind.SQS, {"region": SQS_REGION, "endpoint_url": endpoint}
    )


def fill_sqs(endpoint: str, dlq: str, target: str, count: int) -> None:
    """Direct sends (parallel batches of 10), not redrive: the replay reads the same either way."""
    client = sqs_client(endpoint)
    client.create_queue(QueueName=target)
    url = client.create_queue(QueueName=dlq)["QueueUrl"]
    fill_queue(endpoint_url=endpoint, region=SQS_REGION, queue_url=url, count=count)


def sqs_depth(client, queue: str) -> int:  # type: ignore[no-untyped-def]
    """Every message of the queue: visible, in flight and delayed."""
    url = client.get_queue_url(QueueName=queue)["QueueUrl"]
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[n]) for n in names)


def check_sqs(endpoint: str, dlq: str, target: str, count: int) -> str:
    client = sqs_client(endpoint)
    left, arrived = sqs_depth(client, dlq), sqs_depth(client, target)
    if arrived != count or left != 0:
        raise CountsWrong(f"{target} holds {arrived} and {dlq} {left}; expected {count} and 0")
    return f"target {arrived:,}; DLQ 0 (visible, in flight and delayed)"


def plain_boto3_loop(endpoint: str, dlq: str, target: str) -> float:
    """What a naive script does: receive one, send it, delete it, until the DLQ is empty."""
    client = sqs_client(endpoint)
    source = client.get_queue_url(QueueName=dlq)["QueueUrl"]
    destination = client.get_queue_url(QueueName=target)["QueueUrl"]
    started = time.perf_counter()
    empty = 0
    while empty < 3:  # short polling may answer empty while messages are there; ask again
        messages = client.receive_message(
            QueueUrl=source, MaxNumberOfMessages=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        empty = 0 if messages else empty + 1
        for message in messages:
            sent = {"QueueUrl": destination, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                sent["MessageAttributes"] = message["MessageAttributes"]
            client.send_message(**sent)
            client.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
    return time.perf_counter() - started


def delete_sqs_queues(endpoint: str, names: list[str]) -> None:
    client = sqs_client(endpoint)
    for name in names:
        try:
            client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])
        except client.exceptions.QueueDoesNotExist:
            pass


def bench_sqs(
    endpoint: str, count: int, prefix: str, figures: BrokerFigures, profile: bool
) -> None:
    dlq, target = f"{prefix}-dlq", f"{prefix}-target"
    ref_dlq, ref_target = f"{prefix}-ref-dlq", f"{prefix}-ref-target"
    floor_dlq, floor_target = f"{prefix}-floor-dlq", f"{prefix}-floor-target"
    try:
        fill_sqs(endpoint, dlq, target, count)
        run = profiled(profile, lambda: eventdesk_replay(sqs_profile(endpoint), dlq, target, count))
        run.checked = check_sqs(endpoint, dlq, target, count)
        figures.eventdesk = run

        fill_sqs(endpoint, ref_dlq, ref_target, count)
        reference = Run(plain_boto3_loop(endpoint, ref_dlq, ref_target))
        reference.checked = check_sqs(endpoint, ref_dlq, ref_target, count)
        figures.reference = reference

        fill_sqs(endpoint, floor_dlq, floor_target, count)
        client = sqs_client(endpoint)
        floor = Run(
            library_floor.boto3_copy(
                client,
                client.get_queue_url(QueueName=floor_dlq)["QueueUrl"],
                client.get_queue_url(QueueName=floor_target)["QueueUrl"],
            )
        )
        floor.checked = check_sqs(endpoint, floor_dlq, floor_target, count)
        figures.floors["bare boto3 batched copy, 8 threads"] = floor
    finally:
        delete_sqs_queues(endpoint, [dlq, target, ref_dlq, ref_target, floor_dlq, floor_target])


# -- the report -----------------------------------------------------------------------------


def rate(count: int, run: Run | None) -> str:
    if run is None:
        return "not measured"
    return f"{count / run.seconds:,.0f} msgs/s ({run.seconds:.1f} s)"


def print_figures(figures: BrokerFigures) -> None:
    count = figures.count
    target = TARGETS[figures.broker]
    ratio = met = ""
    if figures.eventdesk and figures.reference and not figures.problems:
        value = figures.reference.seconds / figures.eventdesk.seconds
        ratio, met = f"{value:.2f}×", "met" if value >= target else "**not met**"
    print(f"\n### {figures.title}: replay {count:,} × 1 KB\n")
    print(f"{date.today().isoformat()} · {machine()}\n")
    print(f"| Eventdesk | reference: {figures.reference_name} | ratio | target | met |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {rate(count, figures.eventdesk)} | {rate(count, figures.reference)} | {ratio} "
        f"| ≥ {target:g}× | {met or 'no figure'} |"
    )
    print()
    if figures.eventdesk:
        print(f"- Eventdesk: {figures.eventdesk.phases}; counts: {figures.eventdesk.checked}")
    if figures.reference:
        print(f"- reference counts: {figures.reference.checked}")
    for name, floor in figures.floors.items():
        versus = ""
        if figures.reference:
            versus = f", {figures.reference.seconds / floor.seconds:.2f}× the reference"
        print(
            f"- library floor, {name} (no journal, no dead-letter facts): "
            f"{rate(count, floor)}{versus}; counts: {floor.checked}"
        )
    for problem in figures.problems:
        print(f"- **COUNTS WRONG: {problem}**")
        print(f"!!! {figures.broker}: COUNTS WRONG: {problem}", file=sys.stderr, flush=True)


BENCHES = {
    "kafka": ("Kafka (exactly-once)", "kcat -C \\| kcat -P", bench_kafka),
    "rabbitmq": ("RabbitMQ", "shovel (management API)", bench_rabbitmq),
    "sqs": (
        "SQS (ElasticMQ)",
        "plain boto3 loop",
        functools.partial(bench_sqs, ELASTICMQ_ENDPOINT),
    ),
    "sqs-moto": ("SQS (moto)", "plain boto3 loop", functools.partial(bench_sqs, MOTO_ENDPOINT)),
}


@contextmanager
def isolated_dirs() -> Iterator[None]:
    """A throwaway config and data dir: the benchmark's journal is not the operator's."""
    with tempfile.TemporaryDirectory(prefix="eventdesk-bench-") as folder:
        os.environ["EVENTDESK_CONFIG_DIR"] = os.path.join(folder, "config")
        os.environ["EVENTDESK_DATA_DIR"] = os.path.join(folder, "data")
        yield


def bench_one(broker: str, count: int, profile: bool, warm_up: bool) -> BrokerFigures:
    title, reference_name, bench = BENCHES[broker]
    figures = BrokerFigures(broker, title, reference_name, count)
    prefix = f"bench-replay-{uuid.uuid4().hex[:6]}"
    try:
        if warm_up:
            # Kafka and ElasticMQ are JVMs: a cold one spent 24 s of CPU on the first
            # 10,000-message replay, 7-9 s once warm. Timed cold, the side that runs
            # first (Eventdesk) would pay for the JIT compiling both sides' code.
            print(f"{broker}: warm-up round of the same size, not timed…", flush=True)
            unused = BrokerFigures(broker, title, reference_name, count)
            bench(count, f"{prefix}-warm", unused, False)
        print(f"{broker}: {count:,} dead letters, Eventdesk then the reference…", flush=True)
        bench(count, prefix, figures, profile)
    except CountsWrong as exc:
        figures.problems.append(str(exc))
    except EventdeskError as exc:
        figures.problems.append(f"{exc}" + (f" (hint: {exc.hint})" if exc.hint else ""))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--moto-count", type=int, default=300, help="sqs-moto's count")
    parser.add_argument("--brokers", default=",".join(BROKERS), help="comma-separated")
    parser.add_argument("--profile", action="store_true", help="cProfile Eventdesk's runs")
    parser.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="skip the untimed round that warms the brokers' JVMs first",
    )
    args = parser.parse_args()
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    unknown = [b for b in brokers if b not in BENCHES]
    if unknown:
        parser.error(f"unknown broker(s) {unknown}; choose from {', '.join(BROKERS)}")
    if args.count < 1 or args.moto_count < 1:
        parser.error("--count and --moto-count must be at least 1")
    for broker in brokers:
        port, script = PORTS[broker]
        if not port_open(port):
            sys.exit(
                f"{broker}: nothing listens on 127.0.0.1:{port}; "
                f"start it with `bash tests/brokers/{script} start`"
            )
    with isolated_dirs():
        results = [
            bench_one(
                b, args.moto_count if b == "sqs-moto" else args.count, args.profile, args.warm_up
            )
            for b in brokers
        ]
    for figures in results:
        print_figures(figures)
    if any(f.problems for f in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
