"""Real NATS JetStream dead letters: a consumer gives up on messages and the server says so.

The failing consumer naks some orders until max_deliver runs out and terminates others,
so the server itself publishes MAX_DELIVERIES and MSG_TERMINATED advisories, which the
connector's capture stream keeps.
"""

from __future__ import annotations

import json
import random
import time

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig

from .orders import order

MAX_DELIVER = 2


async def seed_nats(
    servers: str,
    *,
    stream: str = "ORDERS",
    consumer: str = "billing",
    count: int = 6,
    exhaust: int = 2,
    terminate: int = 1,
    seed: int = 9,
) -> dict[str, int]:
    """Publish `count` orders on `<stream lower>.created`; the first `exhaust` run out of
    deliveries, the next `terminate` are terminated, the rest are acked.

    Returns subject-less facts for assertions: {"exhausted": n, "terminated": n, ...}.
    Call NatsConnector.ensure_advisory_capture() first, or the advisories are lost.
    """
    rng = random.Random(seed)
    subject_root = stream.lower()
    nc = await nats.connect(servers)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{subject_root}.>"])
        for number in range(count):
            await js.publish(
                f"{subject_root}.created",
                json.dumps(order(rng, number)).encode(),
                headers={"content-type": "application/json", "order-number": str(number)},
            )
        sub = await js.pull_subscribe(
            f"{subject_root}.>",
            durable=consumer,
            stream=stream,
            config=ConsumerConfig(
                max_deliver=MAX_DELIVER, ack_policy=AckPolicy.EXPLICIT, ack_wait=30
            ),
        )
        # Each round delivers what is due; a nak makes it due again at once. The fetch
        # after the last nak is the pull request on which the server notices max_deliver.
        # Rounds go on until every message had all its deliveries: on a busy machine a
        # round may time out before anything is delivered.
        deliveries: dict[int, int] = {}
        wanted = exhaust * MAX_DELIVER + (count - exhaust)
        deadline = time.monotonic() + 20
        while True:
            done = sum(deliveries.values()) >= wanted
            try:
                msgs = await sub.fetch(count, timeout=0.5)
            except TimeoutError:  # nats-py raises its own subclass, or asyncio's
                msgs = []
            if done and not msgs:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"seeding {stream}: deliveries {deliveries} of {wanted}")
            for msg in msgs:
                number = int(msg.headers["order-number"]) if msg.headers else 0
                deliveries[number] = deliveries.get(number, 0) + 1
                if number < exhaust:
                    await msg.nak()
                elif number < exhaust + terminate:
                    await msg.term()
                else:
                    await msg.ack()
        await nc.flush()
        return {"exhausted": exhaust, "terminated": terminate, "acked": count - exhaust - terminate}
    finally:
        await nc.close()
