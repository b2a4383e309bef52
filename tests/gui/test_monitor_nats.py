"""The Monitor tab charts a JetStream consumer's lag (num_pending) like a Kafka group's."""

from __future__ import annotations

from collections.abc import Callable

import nats as nats_client
import pytest
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.monitor_view import group_key
from nats.js.api import AckPolicy, ConsumerConfig

from .conftest import LoopDriver

pytestmark = pytest.mark.nats

STREAM, CONSUMER, PUBLISHED = "PARCELS", "shipping", 6


async def _publish(server: str) -> None:
    nc = await nats_client.connect(server)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["parcels.>"])
        await js.add_consumer(
            STREAM, ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT)
        )
        for n in range(PUBLISHED):
            await js.publish("parcels.created", f"parcel {n}".encode())
    finally:
        await nc.close()


async def _consume_and_ack(server: str, count: int) -> None:
    nc = await nats_client.connect(server)
    try:
        sub = await nc.jetstream().pull_subscribe_bind(CONSUMER, STREAM)
        acked = 0
        while acked < count:  # a fetch may hand out fewer than asked for
            for msg in await sub.fetch(count - acked, timeout=5):
                await msg.ack_sync()
                acked += 1
    finally:
        await nc.close()


def _drawn_last(window: MainWindow, connection: str, group: str) -> float | None:
    curve = window.monitor.lag_chart.curve(group_key(connection, group))
    if curve is None:
        return None
    _x, y = curve.getData()
    return None if y is None or len(y) == 0 else float(y[-1])


def test_jetstream_consumer_lag_is_charted_and_falls_when_acked(
    private_nats: str, open_window: Callable[..., MainWindow], driver: LoopDriver
) -> None:
    driver.run(_publish(private_nats))
    window = open_window(ConnectionProfile("jetstream", BrokerKind.NATS, {"servers": private_nats}))
    monitor = window.monitor
    monitor.interval_spin.setValue(0.5)
    window.monitor_action.trigger()

    driver.until(
        lambda: _drawn_last(window, "jetstream", CONSUMER) == PUBLISHED,
        timeout=30,
        message=f"the chart to draw lag {PUBLISHED} for {CONSUMER}",
    )
    row = monitor._groups.index(("jetstream", CONSUMER))
    assert monitor.groups_table.item(row, 2).text() == str(PUBLISHED)

    driver.run(_consume_and_ack(private_nats, 4))
    driver.until(
        lambda: _drawn_last(window, "jetstream", CONSUMER) == PUBLISHED - 4,
        timeout=30,
        message="the drawn lag to fall after the acks",
    )
