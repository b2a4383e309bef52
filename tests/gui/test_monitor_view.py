"""The Monitor view against the real Kafka: lag drawn from samples, falling on commits,
and a dead connection shown unreachable beside a live one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.health import HealthState
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.sampling import Metric, SeriesKey
from eventdesk.gui.lag_chart_widget import SeriesBuffer
from eventdesk.gui.monitor_view import SeriesTableModel, group_key
from eventdesk.gui.sparkline_delegate import SPARKLINE_ROLE, sparkline_points

from tests.seed.kafka import commit_offsets, create_topic

from .conftest import LoopDriver

SCREENSHOT = Path(os.environ.get("EVENTDESK_SCREENSHOT_DIR", "/tmp")) / "monitor_view.png"


async def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, f"m{i}".encode(), partition=i % 2)
        await producer.flush()
    finally:
        await producer.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _drawn_last(window, key: SeriesKey) -> float | None:
    """The last y value the chart item holds (what is on screen), not the buffer."""
    curve = window.monitor.lag_chart.curve(key)
    if curve is None:
        return None
    _x, y = curve.getData()
    return None if y is None or len(y) == 0 else float(y[-1])


def test_sparkline_spreads_values_over_the_cell_and_centres_a_flat_one():
    points = sparkline_points([0, 5, 10], width=24, height=14)
    assert [x for x, _ in points] == [2.0, 12.0, 22.0]
    assert [y for _, y in points] == [12.0, 7.0, 2.0]  # higher values are drawn higher
    assert {y for _, y in sparkline_points([3, 3, 3], 24, 14)} == {7.0}
    assert sparkline_points([1], 24, 14) == []


def test_series_buffer_keeps_the_newest_points_when_full():
    buffer = SeriesBuffer(capacity=8)
    for i in range(20):
        buffer.append(float(i), float(i * 10))
    assert len(buffer) <= 8
    assert buffer.x[-1] == 19.0 and buffer.y[-1] == 190.0
    assert np.all(np.diff(buffer.x) > 0)


def test_series_table_trend_keeps_the_last_values_oldest_first(qapp):
    model = SeriesTableModel()
    key = SeriesKey("c", "orders", "billing", None, Metric.LAG)

    def trend() -> list[float]:
        return model.index(0, SeriesTableModel.TREND_COLUMN).data(SPARKLINE_ROLE)

    for value in range(3):
        model.update(key, float(value), float(value))
        model.flush()
    assert trend() == [0.0, 1.0, 2.0]
    for value in range(3, 150):
        model.update(key, float(value), float(value))
        model.flush()
    assert trend() == [float(v) for v in range(150 - SeriesTableModel.TREND_POINTS, 150)]


@pytest.mark.kafka
def test_monitor_charts_lag_falls_on_commit_and_shows_a_dead_connection_unreachable(
    driver: LoopDriver,
    open_window,
    kafka_bootstrap: str,
    kafka_profile: ConnectionProfile,
    kafka_topics: list[str],
    unique_name: str,
):
    topic, group, produced = f"{unique_name}-orders", f"{unique_name}-billing", 30
    kafka_topics.append(topic)
    driver.run(create_topic(kafka_bootstrap, topic, partitions=2), timeout=60)
    driver.run(_produce(kafka_bootstrap, topic, produced), timeout=60)
    driver.run(commit_offsets(kafka_bootstrap, group, topic, {0: 0, 1: 0}), timeout=60)
    dead = ConnectionProfile(
        "Dead Kafka", BrokerKind.KAFKA, {"bootstrap_servers": f"127.0.0.1:{_free_port()}"}
    )

    window = open_window(kafka_profile, dead)
    window.resize(1400, 900)
    monitor = window.monitor
    monitor.interval_spin.setValue(0.5)
    window.monitor_action.trigger()
    assert window.content_tabs.currentWidget() is monitor

    key = group_key("Kafka", group)
    driver.until(
        lambda: _drawn_last(window, key) == produced,
        timeout=30,
        message=f"the chart to draw lag {produced} for {group}",
    )
    # The group's badge: reachable, judged, lag in the table.
    row = monitor._groups.index(("Kafka", group))
    assert monitor.groups_table.item(row, 2).text() == str(produced)
    assert monitor.groups_table.item(row, 1).text().endswith(HealthState.OK.value.upper())

    # The consumer catches up on partition 0 only: the drawn lag falls to partition 1's.
    driver.run(commit_offsets(kafka_bootstrap, group, topic, {0: produced // 2}), timeout=60)
    driver.until(
        lambda: _drawn_last(window, key) == produced // 2,
        timeout=30,
        message="the drawn lag to fall after the commit",
    )
    curve = monitor.lag_chart.curve(key)
    assert curve is not None
    _x, y = curve.getData()
    assert produced in y and y[-1] == produced // 2

    # The dead connection is unreachable, and did not stop the live one from sampling.
    driver.until(lambda: monitor.unreachable_text("Dead Kafka") is not None, timeout=30)
    assert "unreachable since" in monitor.unreachable_label.text()
    assert monitor.unreachable_label.isVisible()
    assert monitor.unreachable_text("Kafka") is None
    assert not monitor.lag_chart.is_stale(key)

    # Drill down: selecting the group charts its partitions.
    monitor.select_group("Kafka", group)
    p0 = SeriesKey("Kafka", topic, group, 0, Metric.LAG)
    p1 = SeriesKey("Kafka", topic, group, 1, Metric.LAG)
    driver.until(
        lambda: _drawn_last(window, p0) == 0 and _drawn_last(window, p1) == produced // 2,
        timeout=30,
        message="the partitions of the selected group to be drawn",
    )
    assert set(monitor.lag_chart.shown_keys()) == {p0, p1}
    monitor.select_group("Kafka", None)
    driver.until(lambda: monitor.lag_chart.curve(key) is not None, timeout=5)

    # Redraws come from the timer, in batches: never one per sample. Counted once the
    # drawn groups are settled (making curves takes a redraw turn per two of them, and how
    # many groups the shared broker holds depends on the tests before this one).
    driver.until(
        lambda: len(monitor.lag_chart.plot.listDataItems()) == len(monitor.lag_chart.shown_keys()),
        timeout=10,
        message="every shown group's curve",
    )
    redraws, seen = monitor.lag_chart.redraws, monitor.snapshots_seen
    driver.until(lambda: monitor.snapshots_seen >= seen + 4, timeout=30)
    rounds = monitor.snapshots_seen - seen
    assert monitor.lag_chart.redraws - redraws <= rounds + 1

    # The samples reached the history store.
    store = monitor._store
    assert store is not None
    per_topic = SeriesKey("Kafka", topic, group, None, Metric.LAG)
    driver.until(
        lambda: {v for _at, v in store.query(per_topic, 0, 2e9)} >= {produced, produced // 2},
        timeout=10,
        message="samples in the metrics store",
    )

    # The overview's sparkline for the topic's lag holds the fall it saw.
    series = monitor.series_model
    driver.until(lambda: per_topic in series.rows(), timeout=10, message="the lag row")
    trend_cell = series.index(series.rows().index(per_topic), SeriesTableModel.TREND_COLUMN)
    trend = trend_cell.data(SPARKLINE_ROLE)
    assert produced in trend and trend[-1] == produced // 2

    # A custom window, in minutes; a preset turns it off again.
    monitor.custom_button.click()
    assert monitor.custom_spin.isEnabled()
    monitor.custom_spin.setValue(90)
    assert monitor.lag_chart.window == monitor.dlq_chart.window == 90 * 60
    monitor.window_buttons.button(1).click()
    assert not monitor.custom_spin.isEnabled() and monitor.lag_chart.window == 3600

    driver.settle()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENSHOT))
