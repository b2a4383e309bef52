"""NATS JetStream consumer lag sampled like Kafka lag, against the real nats-server."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import nats as nats_client
import pytest
from eventdesk.connectors.health import HealthState
from eventdesk.connectors.nats import NatsConnector, dead_letter_endpoint
from eventdesk.connectors.sampling import Metric, Reachability, Sampler
from nats.js.api import AckPolicy, ConsumerConfig

from tests.connectors.snapshots import first_snapshot
from tests.seed.nats import seed_nats

pytestmark = pytest.mark.nats

CONSUMER = "shipping"


@pytest.fixture
async def stream(nats: str) -> AsyncIterator[str]:
    """A stream SHIP_<id> with 5 messages and a durable pull consumer that has read none."""
    name = f"SHIP_{uuid.uuid4().hex[:8]}"
    nc = await nats_client.connect(nats)
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{name.lower()}.>"])
    await js.add_consumer(
        name, ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=60)
    )
    for n in range(5):
        await js.publish(f"{name.lower()}.created", f"parcel {n}".encode())
    yield name
    await js.delete_stream(name)
    await nc.close()


async def _fetch(nats: str, stream: str, count: int, *, ack: bool) -> None:
    nc = await nats_client.connect(nats)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe_bind(CONSUMER, stream)
        got = 0
        deadline = time.monotonic() + 10
        while got < count:
            assert time.monotonic() < deadline, f"fetched {got} of {count}"
            for msg in await sub.fetch(count - got, timeout=2):
                got += 1
                if ack:
                    await msg.ack_sync()
    finally:
        await nc.close()


async def test_consumer_lag_reports_pending_and_ack_pending(nats: str, stream: str) -> None:
    async with NatsConnector(nats) as connector:
        before = {(c.stream, c.consumer): c for c in (await connector.consumer_lag()).consumers}
        await _fetch(nats, stream, 2, ack=False)
        after = {(c.stream, c.consumer): c for c in (await connector.consumer_lag()).consumers}
    mine = before[(stream, CONSUMER)]
    assert (mine.num_pending, mine.ack_pending, mine.ack_floor) == (5, 0, 0)
    held = after[(stream, CONSUMER)]
    assert (held.num_pending, held.ack_pending, held.ack_floor) == (3, 2, 0)


async def test_sampled_lag_rises_unconsumed_and_falls_when_acked(nats: str, stream: str) -> None:
    async with Sampler(
        {"jetstream": lambda: NatsConnector(nats)}, interval=0.3, dead_letters={"jetstream": ()}
    ) as sampler:
        first = await first_snapshot(
            sampler, lambda s: s.value(Metric.LAG, stream, group=CONSUMER) is not None
        )
        assert first.reachability is Reachability.OK
        assert first.value(Metric.LAG, stream, group=CONSUMER) == 5
        assert first.value(Metric.ACK_PENDING, stream, group=CONSUMER) == 0
        assert first.value(Metric.MEMBERS, "", group=CONSUMER) is not None
        assert CONSUMER in first.group_states
        assert first.health[CONSUMER].state is HealthState.OK

        await _fetch(nats, stream, 3, ack=True)
        acked = await first_snapshot(
            sampler, lambda s: s.value(Metric.LAG, stream, group=CONSUMER) == 2
        )
        assert acked.value(Metric.ACK_PENDING, stream, group=CONSUMER) == 0
        assert acked.value(Metric.COMMITTED, stream, group=CONSUMER) == 3
        # Three messages handled since the first round: a finite time estimate.
        seconds = acked.value(Metric.LAG_SECONDS, stream, group=CONSUMER)
        assert seconds is not None and 0 < seconds < 60

        await _fetch(nats, stream, 2, ack=False)
        held = await first_snapshot(
            sampler, lambda s: s.value(Metric.LAG, stream, group=CONSUMER) == 0
        )
        assert held.value(Metric.ACK_PENDING, stream, group=CONSUMER) == 2


async def test_dead_letters_are_sampled_as_dlq_depth(nats: str) -> None:
    stream = f"ORDERS_{uuid.uuid4().hex[:8]}"
    async with NatsConnector(nats) as connector:
        await connector.ensure_advisory_capture()
        await seed_nats(nats, stream=stream, consumer="billing", count=4, exhaust=1, terminate=1)
        dlq = dead_letter_endpoint(stream, "billing")
        try:
            async with Sampler({"jetstream": lambda: NatsConnector(nats)}, interval=0.3) as sampler:
                seen = await first_snapshot(sampler, lambda s: s.value(Metric.DLQ_DEPTH, dlq) == 2)
            # The two acked messages are handled; the two given up on are no lag either.
            assert seen.value(Metric.LAG, stream, group="billing") == 0
            assert seen.value(Metric.ACK_PENDING, stream, group="billing") == 0
        finally:
            nc = await nats_client.connect(nats)
            await nc.jetstream().delete_stream(stream)
            await nc.close()


async def test_an_unreachable_nats_server_keeps_the_last_values_greyed() -> None:
    async with Sampler(
        {"gone": lambda: NatsConnector("nats://127.0.0.1:1")}, interval=0.2, timeout=2
    ) as sampler:
        snapshot = await sampler.next_snapshot(timeout=10)
    assert snapshot.reachability is Reachability.UNREACHABLE
    assert snapshot.error and "127.0.0.1:1" in snapshot.error
