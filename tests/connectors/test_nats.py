"""NatsConnector against a real nats-server with JetStream: advisories as dead letters."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time

import nats as nats_client
import pytest
from eventdesk.connectors.errors import AuthenticationFailed, BrokerUnreachable
from eventdesk.connectors.model import EndpointKind, Message, Outgoing
from eventdesk.connectors.nats import NatsConnector

from tests.seed.nats import MAX_DELIVER

pytestmark = pytest.mark.nats


async def test_lists_streams_and_a_dead_letter_endpoint_per_consumer(
    nats_connector: NatsConnector, nats_orders: str
) -> None:
    endpoints = {e.name: e for e in await nats_connector.list_endpoints()}
    stream = endpoints[nats_orders]
    assert stream.kind is EndpointKind.TOPIC
    assert stream.depth == 6
    assert not stream.is_dead_letter
    assert "billing" in stream.details["consumers"]
    dlq = endpoints[f"{nats_orders}/billing"]
    assert dlq.is_dead_letter
    assert dlq.fed_by == (nats_orders,)
    assert dlq.depth == 3
    assert endpoints[nats_connector.advisory_stream].details["role"]


async def test_a_replay_may_target_a_streams_literal_subjects_only(
    nats: str, nats_connector: NatsConnector, nats_orders: str
) -> None:
    stream = f"{nats_orders}_AUDIT"
    nc = await nats_client.connect(nats)
    await nc.jetstream().add_stream(
        name=stream, subjects=[f"{stream.lower()}.created", f"{stream.lower()}.*.updated"]
    )
    try:
        endpoints = {e.name: e for e in await nats_connector.list_endpoints()}
    finally:
        await nc.jetstream().delete_stream(stream)
        await nc.close()
    # A publish goes to a subject: wildcards are left for the operator to type out.
    assert endpoints[stream].replay_targets() == (f"{stream.lower()}.created",)
    assert endpoints[nats_orders].replay_targets() == ()  # only "<root>.>"
    assert endpoints[f"{nats_orders}/billing"].replay_targets() == ()
    assert endpoints[nats_connector.advisory_stream].replay_targets() == ()


async def test_browse_resolves_advisories_to_the_original_messages(
    nats_connector: NatsConnector, nats_orders: str
) -> None:
    async with nats_connector.browse(f"{nats_orders}/billing", page_size=2) as browser:
        first = await browser.next_page()
        assert len(first.messages) == 2 and first.more
        rest = await browser.next_page()
    messages = [*first.messages, *rest.messages]
    assert len(messages) == 3
    by_number = {m.header("order-number"): m for m in messages}
    assert set(by_number) == {"0", "1", "2"}
    exhausted, terminated = by_number["0"], by_number["2"]
    assert json.loads(exhausted.body)["orderId"] == "ORD-2025-100000"
    facts = exhausted.dead_letter
    assert facts.convention == "nats max_deliveries"
    assert facts.original_destination == f"{nats_orders.lower()}.created"
    assert facts.attempts == MAX_DELIVER
    assert facts.failed_service == "billing"
    assert facts.last_failure is not None and facts.last_failure.tzinfo is not None
    assert exhausted.id == f"{nats_orders}:1"
    assert terminated.dead_letter.convention == "nats terminated"
    assert terminated.dead_letter.attempts == 1
    # Read-only: the consumer's state and the stream are untouched by browsing.
    assert await nats_connector.depth(nats_orders) == 6
    assert await nats_connector.depth(f"{nats_orders}/billing") == 3


async def test_a_deleted_original_is_a_note_not_a_crash(
    nats: str, nats_connector: NatsConnector, nats_orders: str
) -> None:
    nc = await nats_client.connect(nats)
    await nc.jetstream().delete_msg(nats_orders, 1)
    await nc.close()
    async with nats_connector.browse(f"{nats_orders}/billing") as browser:
        page = await browser.next_page()
    gone = next(m for m in page.messages if m.id == f"{nats_orders}:1")
    assert gone.body == b""
    assert "no longer in stream" in gone.attributes["note"]
    assert gone.dead_letter.attempts == MAX_DELIVER


async def test_send_deduplicates_by_nats_msg_id(
    nats_connector: NatsConnector, nats_orders: str
) -> None:
    target = f"{nats_orders.lower()}.replayed"
    outgoing = Outgoing(
        source_id=f"{nats_orders}:1",
        body=b'{"orderId": "ORD-2025-100000"}',
        headers=(("eventdesk-original-id", f"replay-{nats_orders}-1"), ("x-note", b"bytes ok")),
    )
    [first] = await nats_connector.send(target, [outgoing])
    assert first.ok and "duplicate" not in first.detail
    [again] = await nats_connector.send(target, [outgoing])
    assert again.ok and again.detail.startswith("duplicate")
    assert await nats_connector.depth(nats_orders) == 7
    async with nats_connector.browse(nats_orders) as browser:
        page = await browser.next_page()
    replayed = page.messages[-1]
    assert replayed.attributes["subject"] == target
    assert replayed.header("Nats-Msg-Id") == f"replay-{nats_orders}-1"
    [nowhere] = await nats_connector.send("no.stream.here", [outgoing])
    assert not nowhere.ok and "no JetStream stream" in nowhere.detail


async def test_settle_removes_the_advisory_and_keeps_the_message(
    nats_connector: NatsConnector, nats_orders: str
) -> None:
    dlq = f"{nats_orders}/billing"
    async with nats_connector.browse(dlq) as browser:
        page = await browser.next_page()
        settled = await browser.settle(page.messages[:2])
        stranger = Message(endpoint=dlq, id="elsewhere:9", body=b"")
        [refused] = await browser.settle([stranger])
    assert all(o.ok for o in settled)
    assert not refused.ok
    assert await nats_connector.depth(dlq) == 1
    assert await nats_connector.depth(nats_orders) == 6


async def test_unreachable_port_fails_fast() -> None:
    connector = NatsConnector("nats://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable):
        await connector.connect(timeout=5)
    assert time.monotonic() - started < 5
    await connector.close()


async def test_wrong_password_is_an_authentication_failure() -> None:
    # A second, throwaway server with a user: plain NATS, no JetStream, starts in ms.
    server = shutil.which("nats-server")
    assert server, "nats-server is not installed (packaging/setup-debian.sh)"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["-a", "127.0.0.1", "-p", str(port), "--user", "operator", "--pass", "right"]
    process = await asyncio.create_subprocess_exec(server, *args, stderr=asyncio.subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not _listening(port):
            assert time.monotonic() < deadline, "the throwaway nats-server did not start"
            await asyncio.sleep(0.05)
        wrong = NatsConnector(f"127.0.0.1:{port}", user="operator", password="wrong")
        with pytest.raises(AuthenticationFailed):
            await wrong.connect(timeout=5)
        await wrong.close()
        right = NatsConnector(f"127.0.0.1:{port}", user="operator", password="right")
        await right.connect(timeout=5)
        await right.close()
    finally:
        process.terminate()
        await process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
