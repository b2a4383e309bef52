"""RabbitMQConnector against the real local broker (tests/brokers/rabbitmq.sh)."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta

import aio_pika
import aio_pika.abc
import pytest
from eventdesk.connectors.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerUnreachable,
    ConnectionLost,
    EndpointNotFound,
    OperationTimeout,
)
from eventdesk.connectors.model import Endpoint
from eventdesk.connectors.rabbitmq import (
    BROWSE_NOTE,
    ManagementClient,
    RabbitMQBrowser,
    RabbitMQConnector,
    build_endpoints,
    topic_matches,
)

from tests.conftest import RabbitMQSettings
from tests.seed.rabbitmq import fill_dead_letter_queue, remove_seed, seed_rabbitmq

pytestmark = pytest.mark.rabbitmq

# Management statistics are refreshed every second, but a queue declared a moment ago
# (a quorum queue above all) can take several seconds to show its policy.
MANAGEMENT_LAG = 25.0


def _connector(settings: RabbitMQSettings, **overrides: object) -> RabbitMQConnector:
    options = {**settings.account(), **overrides}
    return RabbitMQConnector(**options)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = MANAGEMENT_LAG
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.25)


async def _endpoint(connector: RabbitMQConnector, name: str) -> Endpoint | None:
    return next((e for e in await connector.list_endpoints() if e.name == name), None)


async def _browse_all(browser: RabbitMQBrowser) -> list:
    messages = []
    while True:
        page = await browser.next_page()
        messages.extend(page.messages)
        if not page.more:
            return messages


@pytest.fixture(scope="module")
def seeded(rabbitmq: RabbitMQSettings) -> Iterator[dict[str, str]]:
    # Synchronous on purpose: the seed is plain data shared by every test of the module,
    # while each test runs in its own event loop.
    credentials = rabbitmq.credentials()
    prefix = f"t-seed-{uuid.uuid4().hex[:8]}"
    names = asyncio.run(
        seed_rabbitmq(**credentials, prefix=prefix, management_url=rabbitmq.management_url)
    )
    yield names
    asyncio.run(remove_seed(**credentials, names=names, management_url=rabbitmq.management_url))


@pytest.fixture
async def connector(rabbitmq: RabbitMQSettings) -> AsyncIterator[RabbitMQConnector]:
    connector = _connector(rabbitmq)
    await connector.connect()
    yield connector
    await connector.close()


class Topology:
    """Raw aio-pika access for arranging a test; deletes what it declared afterwards."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self.channel = channel
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    async def queue(self, name: str, **arguments: object) -> aio_pika.abc.AbstractQueue:
        self.queues.append(name)
        return await self.channel.declare_queue(name, durable=True, arguments=arguments or None)

    async def exchange(self, name: str, kind: str) -> aio_pika.abc.AbstractExchange:
        self.exchanges.append(name)
        return await self.channel.declare_exchange(name, aio_pika.ExchangeType(kind), durable=True)

    async def publish(self, queue: str, body: bytes, **properties: object) -> None:
        await self.channel.default_exchange.publish(
            aio_pika.Message(body, **properties),  # type: ignore[arg-type]
            routing_key=queue,
        )


@pytest.fixture
async def topology(rabbitmq: RabbitMQSettings) -> AsyncIterator[Topology]:
    connection = await aio_pika.connect(
        host=rabbitmq.host,
        port=rabbitmq.port,
        login=rabbitmq.username,
        password=rabbitmq.password,
        timeout=10,
    )
    topology = Topology(await connection.channel())
    try:
        yield topology
    finally:
        channel = await connection.channel()
        for name in topology.queues:
            await channel.queue_delete(name)
        for name in topology.exchanges:
            await channel.exchange_delete(name)
        await connection.close()


# -- dead-letter queue detection ------------------------------------------------------------


async def test_dead_letter_queues_found_through_arguments_and_bindings(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    u = unique_name
    # direct DLX with an explicit dead-letter routing key
    failures = await topology.exchange(f"{u}.failures", "direct")
    parking = await topology.queue(f"{u}.parking")
    await parking.bind(failures, routing_key="work-failed")
    decoy = await topology.queue(f"{u}.decoy")
    await decoy.bind(failures, routing_key="something-else")
    await topology.queue(
        f"{u}.work",
        **{"x-dead-letter-exchange": f"{u}.failures", "x-dead-letter-routing-key": "work-failed"},
    )
    # fanout DLX: every bound queue receives the dead letters
    fan = await topology.exchange(f"{u}.fan", "fanout")
    for side in ("a", "b"):
        await (await topology.queue(f"{u}.fan-{side}")).bind(fan)
    await topology.queue(f"{u}.jobs", **{"x-dead-letter-exchange": f"{u}.fan"})
    # topic DLX without a routing key: dead letters keep the keys they were published with
    incoming = await topology.exchange(f"{u}.in", "topic")
    invoices = await topology.queue(f"{u}.invoices", **{"x-dead-letter-exchange": f"{u}.topic"})
    await invoices.bind(incoming, routing_key="invoices.created")
    topic = await topology.exchange(f"{u}.topic", "topic")
    await (await topology.queue(f"{u}.invoice-failures")).bind(topic, routing_key="invoices.#")
    await (await topology.queue(f"{u}.shipment-failures")).bind(topic, routing_key="shipments.#")

    wanted = {
        f"{u}.{n}"
        for n in (
            "parking decoy work fan-a fan-b jobs invoices invoice-failures shipment-failures"
        ).split()
    }

    async def all_listed() -> bool:
        return wanted <= {e.name for e in await connector.list_endpoints()}

    await _eventually(all_listed)
    endpoints = {e.name: e for e in await connector.list_endpoints() if e.name in wanted}

    dead_letter_queues = {name for name, e in endpoints.items() if e.is_dead_letter}
    assert dead_letter_queues == {
        f"{u}.parking",
        f"{u}.fan-a",
        f"{u}.fan-b",
        f"{u}.invoice-failures",
    }
    assert endpoints[f"{u}.parking"].fed_by == (f"{u}.work",)
    assert "x-dead-letter-exchange" in endpoints[f"{u}.parking"].dead_letter_evidence
    assert f"{u}.work" in endpoints[f"{u}.parking"].dead_letter_evidence
    assert endpoints[f"{u}.fan-a"].fed_by == (f"{u}.jobs",)
    assert endpoints[f"{u}.fan-b"].fed_by == (f"{u}.jobs",)
    assert endpoints[f"{u}.invoice-failures"].fed_by == (f"{u}.invoices",)
    work = endpoints[f"{u}.work"]
    assert work.details["vhost"] == "/"
    assert work.details["type"] == "classic"
    assert f"x-dead-letter-exchange={u}.failures" in work.details["arguments"]
    assert work.details["dead letters go to"] == f"{u}.parking"


async def test_dead_letter_queue_found_through_policy(
    connector: RabbitMQConnector, seeded: dict[str, str]
) -> None:
    found: list[Endpoint] = []

    async def policy_seen() -> bool:
        endpoint = await _endpoint(connector, seeded["policy_dlq"])
        found[:] = [endpoint] if endpoint else []
        return bool(endpoint and endpoint.is_dead_letter)

    await _eventually(policy_seen)
    endpoint = found[0]
    # Named so that no naming convention could have found it.
    assert endpoint.fed_by == (seeded["policy_source"],)
    assert f"policy {seeded['policy']}" in endpoint.dead_letter_evidence
    source = await _endpoint(connector, seeded["policy_source"])
    assert source is not None
    assert source.details["type"] == "quorum"
    assert not source.is_dead_letter


async def test_dead_letter_queues_found_by_name(
    connector: RabbitMQConnector, seeded: dict[str, str]
) -> None:
    async def listed() -> bool:
        names = {e.name for e in await connector.list_endpoints()}
        return {seeded["masstransit_error"], seeded["masstransit_source"]} <= names

    await _eventually(listed)
    endpoints = {e.name: e for e in await connector.list_endpoints()}
    error_queue = endpoints[seeded["masstransit_error"]]
    assert error_queue.is_dead_letter
    assert error_queue.fed_by == (seeded["masstransit_source"],)
    assert "name" in error_queue.dead_letter_evidence
    assert not endpoints[seeded["masstransit_source"]].is_dead_letter


def test_build_endpoints_follows_exchange_to_exchange_bindings_and_skips_self() -> None:
    def dlx(exchange: str, key: str | None = None) -> dict[str, str]:
        arguments = {"x-dead-letter-exchange": exchange}
        if key is not None:
            arguments["x-dead-letter-routing-key"] = key
        return arguments

    def binding(source: str, destination: str, kind: str, key: str) -> dict[str, str]:
        return {
            "source": source,
            "destination": destination,
            "destination_type": kind,
            "routing_key": key,
        }

    queues = [
        {"name": "a", "arguments": dlx("front")},
        {"name": "loop", "arguments": dlx("", "loop")},
        {"name": "lost", "arguments": dlx("nowhere")},
        {"name": "sink", "arguments": {}},
        {"name": "to-default", "arguments": dlx("", "sink")},
    ]
    exchanges = [{"name": "front", "type": "fanout"}, {"name": "back", "type": "direct"}]
    bindings = [
        binding("front", "back", "exchange", ""),
        binding("back", "sink", "queue", "a"),
    ]
    endpoints = {e.name: e for e in build_endpoints("/", queues, exchanges, bindings)}
    assert endpoints["sink"].is_dead_letter
    assert endpoints["sink"].fed_by == ("a", "to-default")
    assert not endpoints["loop"].is_dead_letter
    assert "nowhere" in endpoints["lost"].details["dead-letter exchange missing"]
    assert endpoints["sink"].depth is None  # no statistics yet: unknown, not zero


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("invoices.#", "invoices.created", True),
        ("invoices.#", "invoices", True),
        ("*.created", "invoices.created", True),
        ("*.created", "invoices.eu.created", False),
        ("#", "", True),
        ("invoices.*", "invoices", False),
    ],
)
def test_topic_matches(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


# -- depth ----------------------------------------------------------------------------------


async def test_depth_is_exact_and_listing_catches_up(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    for number in range(7):
        await topology.publish(unique_name, f"message {number}".encode())
    assert await connector.depth(unique_name) == 7

    async def listed_depth() -> bool:
        endpoint = await _endpoint(connector, unique_name)
        return endpoint is not None and endpoint.depth == 7

    await _eventually(listed_depth)


# -- browsing -------------------------------------------------------------------------------


async def test_browse_pages_through_1050_and_gives_everything_back(
    connector: RabbitMQConnector, rabbitmq: RabbitMQSettings, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    await fill_dead_letter_queue(
        host=rabbitmq.host,
        port=rabbitmq.port,
        username=rabbitmq.username,
        password=rabbitmq.password,
        queue=unique_name,
        count=1050,
        size=512,
    )
    assert await connector.depth(unique_name) == 1050

    browser = connector.browse(unique_name, page_size=200)
    assert browser.side_effect_note == BROWSE_NOTE
    sizes, flags, sequences, ids = [], [], [], set()
    async with browser:
        while True:
            page = await browser.next_page()
            sizes.append(len(page.messages))
            flags.append(page.more)
            for message in page.messages:
                sequences.append(json.loads(message.body)["sequence"])
                ids.add(message.id)
                assert message.attributes["redelivered"] == "false"
                assert message.dead_letter.reason == "expired"
            if not page.more:
                break
        # Everything shown is held: nothing is ready for other consumers meanwhile.
        assert await connector.depth(unique_name) == 0
        assert browser.held == 1050
    assert sizes == [200, 200, 200, 200, 200, 50]
    assert flags == [True, True, True, True, True, False]
    assert sequences == list(range(1050))
    assert len(ids) == 1050

    assert await connector.depth(unique_name) == 1050
    async with connector.browse(unique_name, page_size=1050) as again:
        page = await again.next_page()
    assert not page.more
    assert [json.loads(m.body)["sequence"] for m in page.messages] == list(range(1050))
    assert all(m.attributes["redelivered"] == "true" for m in page.messages)
    assert {m.id for m in page.messages} == ids
    assert await connector.depth(unique_name) == 1050


async def test_browse_stops_at_the_messages_present_when_it_began(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    for number in range(5):
        await topology.publish(unique_name, f"early {number}".encode())
    async with connector.browse(unique_name, page_size=3) as browser:
        first = await browser.next_page()
        await topology.publish(unique_name, b"late")
        second = await browser.next_page()
        third = await browser.next_page()
    assert (len(first.messages), first.more) == (3, True)
    assert (len(second.messages), second.more) == (2, False)
    assert [m.body for m in second.messages] == [b"early 3", b"early 4"]
    assert (len(third.messages), third.more) == (0, False)
    assert await connector.depth(unique_name) == 6


async def test_browse_of_an_empty_queue_ends_at_once(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    async with connector.browse(unique_name) as browser:
        page = await browser.next_page()
    assert page.messages == ()
    assert not page.more


async def test_browse_holds_at_most_max_held_and_says_so(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    for number in range(20):
        await topology.publish(unique_name, f"m{number}".encode())
    browser = RabbitMQBrowser(connector, unique_name, page_size=10, max_held=15)
    async with browser:
        first = await browser.next_page()
        second = await browser.next_page()
    assert (len(first.messages), first.more) == (10, True)
    assert (len(second.messages), second.more) == (5, False)
    assert "15" in browser.side_effect_note
    assert await connector.depth(unique_name) == 20


async def test_message_without_message_id_gets_a_stable_content_id(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    # aiormq stamps a message_id on everything it publishes; the management API does not,
    # like many other clients.
    for body in ("first", "second"):
        await connector.management.request(
            "POST",
            "/api/exchanges/%2F/amq.default/publish",
            body={
                "properties": {"headers": {"tenant": "acme"}},
                "routing_key": unique_name,
                "payload": body,
                "payload_encoding": "string",
            },
        )
    await topology.publish(unique_name, b"third", message_id="given-id")
    async with connector.browse(unique_name) as browser:
        before = [m.id for m in (await browser.next_page()).messages]
    async with connector.browse(unique_name) as browser:
        after = [m.id for m in (await browser.next_page()).messages]
    assert before == after
    assert before[0].startswith("sha256:") and before[1].startswith("sha256:")
    assert before[0] != before[1]
    assert before[2] == "given-id"


async def test_real_reject_and_ttl_dead_letters_carry_x_death_facts(
    connector: RabbitMQConnector, seeded: dict[str, str]
) -> None:
    async with connector.browse(seeded["dlq"], page_size=100) as browser:
        messages = await _browse_all(browser)
    assert len(messages) == 40
    reasons = [m.dead_letter.reason for m in messages]
    assert reasons.count("rejected") == 30
    assert reasons.count("expired") == 10
    for message in messages:
        facts = message.dead_letter
        assert facts.convention == "rabbitmq x-death"
        assert facts.original_destination == seeded["source"]
        assert facts.attempts == 1
        assert facts.first_failure is not None
        assert message.timestamp is not None and message.timestamp.tzinfo is not None
        assert message.timestamp.utcoffset() == timedelta(0)
        assert message.attributes["exchange"] == seeded["dlx"]
        assert dict(message.headers)["x-death"][0]["queue"] == seeded["source"]
    expired = [m for m in messages if m.dead_letter.reason == "expired"]
    assert all(m.dead_letter.extra.get("x-death original-expiration") == "50" for m in expired)
    binary = [m for m in messages if m.attributes.get("content_encoding") == "gzip"]
    assert len(binary) == 1
    assert binary[0].body.startswith(b"\x1f\x8b")
    with pytest.raises(UnicodeDecodeError):
        binary[0].body.decode("utf-8")


async def test_policy_dead_letters_name_the_quorum_source(
    connector: RabbitMQConnector, seeded: dict[str, str]
) -> None:
    async with connector.browse(seeded["policy_dlq"]) as browser:
        messages = await _browse_all(browser)
    assert len(messages) == 5
    assert {m.dead_letter.original_destination for m in messages} == {seeded["policy_source"]}
    assert {m.dead_letter.reason for m in messages} == {"rejected"}
    assert {m.attributes["routing_key"] for m in messages} == {"payments.failed"}


async def test_masstransit_and_spring_amqp_facts(
    connector: RabbitMQConnector, seeded: dict[str, str]
) -> None:
    async with connector.browse(seeded["masstransit_error"]) as browser:
        faults = await _browse_all(browser)
    assert len(faults) == 4
    facts = faults[0].dead_letter
    assert facts.convention == "masstransit"
    assert facts.original_destination == seeded["masstransit_source"]
    assert facts.exception_type == "System.InvalidOperationException"
    assert facts.exception_message and "Card declined" in facts.exception_message
    assert facts.attempts == 4
    assert facts.failed_service and "Billing.Service" in facts.failed_service
    # No AMQP timestamp on these: the fault's own time stands in.
    assert facts.last_failure is not None
    assert faults[0].timestamp == facts.last_failure

    async with connector.browse(seeded["spring_dlq"]) as browser:
        republished = await _browse_all(browser)
    assert len(republished) == 3
    spring = republished[0].dead_letter
    assert spring.convention == "spring-amqp"
    assert spring.exception_message == "Insufficient stock for SKU-USB-C-HUB"
    assert spring.stack_trace and "StockService.reserve" in spring.stack_trace
    assert spring.original_destination == seeded["spring_source"]


# -- failures -------------------------------------------------------------------------------


async def test_wrong_password_fails_fast_and_never_shows_the_password(
    rabbitmq: RabbitMQSettings,
) -> None:
    password = "Wrong-Pa55word-7Q"
    connector = _connector(rabbitmq, password=password)
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed) as caught:
        await connector.connect(timeout=5)
    assert time.monotonic() - started < 5
    with pytest.raises(AuthenticationFailed) as caught_http:
        await connector.list_endpoints(timeout=5)
    for error in (caught.value, caught_http.value):
        assert password not in str(error)
        assert password not in repr(error)
        assert password not in (error.hint or "")
        assert rabbitmq.username in str(error)
    assert password not in repr(connector)
    assert password not in repr(connector.management)
    await connector.close()


async def test_unreachable_port_is_broker_unreachable(rabbitmq: RabbitMQSettings) -> None:
    port = _free_port()
    connector = _connector(rabbitmq, port=port, management_url=f"http://127.0.0.1:{port}")
    with pytest.raises(BrokerUnreachable) as caught:
        await connector.connect(timeout=5)
    assert f"127.0.0.1:{port}" in str(caught.value)
    with pytest.raises(BrokerUnreachable):
        await connector.list_endpoints(timeout=5)


async def test_silent_server_times_out_instead_of_hanging(rabbitmq: RabbitMQSettings) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connector = _connector(rabbitmq, port=port, management_url=f"http://127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(OperationTimeout):
            await connector.connect(timeout=1)
        with pytest.raises(OperationTimeout):
            await connector.list_endpoints(timeout=1)
        assert time.monotonic() - started < 6
    finally:
        server.close()
        await server.wait_closed()


async def test_missing_queue_is_endpoint_not_found_and_the_connection_survives(
    connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    missing = f"{unique_name}-missing"
    with pytest.raises(EndpointNotFound) as caught:
        await connector.depth(missing)
    assert missing in str(caught.value)
    async with connector.browse(missing) as browser:
        with pytest.raises(EndpointNotFound):
            await browser.next_page()
    await topology.queue(unique_name)
    assert await connector.depth(unique_name) == 0


async def test_unknown_vhost_is_refused(rabbitmq: RabbitMQSettings) -> None:
    connector = _connector(rabbitmq, vhost="no-such-vhost-for-eventdesk")
    with pytest.raises(AuthorizationFailed) as caught:
        await connector.connect(timeout=5)
    assert "no-such-vhost-for-eventdesk" in str(caught.value)
    # The refused connection was closed, not left for its __del__ to close unawaited.
    del caught
    gc.collect()
    closing = [t for t in asyncio.all_tasks() if "Connection.close" in repr(t.get_coro())]
    assert closing == []
    with pytest.raises(EndpointNotFound):
        await connector.list_endpoints(timeout=5)


async def test_queue_without_read_permission_is_authorization_failed(
    rabbitmq: RabbitMQSettings, connector: RabbitMQConnector, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    await topology.publish(unique_name, b"secret order")
    api = ManagementClient(
        rabbitmq.management_url, username=rabbitmq.username, password=rabbitmq.password
    )
    user = f"eventdesk-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    user_path = f"/api/users/{urllib.parse.quote(user, safe='')}"
    await api.put(user_path, {"password": password, "tags": ""})
    try:
        await api.put(
            f"/api/permissions/%2F/{urllib.parse.quote(user, safe='')}",
            {"configure": "", "write": "", "read": "^$"},
        )
        limited = _connector(rabbitmq, username=user, password=password)
        await limited.connect(timeout=5)
        try:
            async with limited.browse(unique_name) as browser:
                with pytest.raises(AuthorizationFailed) as caught:
                    await browser.next_page()
            assert unique_name in str(caught.value)
            assert password not in str(caught.value)
        finally:
            await limited.close()
    finally:
        await api.delete(user_path)
    assert await connector.depth(unique_name) == 1


async def test_close_is_idempotent_and_gives_back_what_open_browsers_hold(
    rabbitmq: RabbitMQSettings, topology: Topology, unique_name: str
) -> None:
    await topology.queue(unique_name)
    for number in range(4):
        await topology.publish(unique_name, f"m{number}".encode())
    connector = _connector(rabbitmq)
    await connector.connect()
    browser = connector.browse(unique_name, page_size=3)
    assert len((await browser.next_page()).messages) == 3
    assert await connector.depth(unique_name) == 1
    await connector.close()
    await connector.close()
    await browser.close()
    page = await browser.next_page()
    assert (page.messages, page.more) == ((), False)
    with pytest.raises(ConnectionLost):
        await connector.depth(unique_name)

    async with _connector(rabbitmq) as fresh:
        assert await fresh.depth(unique_name) == 4
        async with fresh.browse(unique_name) as again:
            messages = (await again.next_page()).messages
    assert [m.attributes["redelivered"] for m in messages] == ["true"] * 3 + ["false"]
