"""The Monitor at many groups and partitions: only what is seen is kept and drawn.

Per-partition series only for the group drilled into (filled from history when drilled),
the lag chart limited to the groups with the most lag, rounds summed up off the UI
thread, charts that neither redraw while hidden nor draw more points than pixels.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.sampling import Metric, Reachability, Sample, SeriesKey, Snapshot
from eventdesk.gui.lag_chart_widget import (
    FOLLOW_STEPS,
    MIN_TOP,
    REDRAW_MS,
    STALE_COLOR,
    LagChartWidget,
    SeriesBuffer,
    nice_ceiling,
    visible_points,
)
from eventdesk.gui.monitor_view import group_key, summarize_round
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from tests.seed.kafka import commit_offsets, create_topic

from .conftest import LoopDriver

PARTITIONS = 3
PER_PARTITION = 20


def _lag(group: str | None, partition: int | None, value: float, topic: str = "orders"):
    return Sample("K", BrokerKind.KAFKA, topic, group, partition, Metric.LAG, value, 10.0)


def test_a_round_is_summed_per_group_and_keeps_partitions_of_the_drilled_group_only():
    samples = (
        _lag("billing", 0, 3),
        _lag("billing", 1, 4),
        _lag("billing", None, 7),
        _lag("billing", None, 5, topic="refunds"),
        _lag("audit", 0, 1),
        _lag("audit", None, 1),
        Sample("K", BrokerKind.KAFKA, "orders.DLT", None, None, Metric.DLQ_DEPTH, 9, 10.0),
    )
    snapshot = Snapshot(
        "K",
        BrokerKind.KAFKA,
        10.0,
        Reachability.OK,
        samples,
        group_states={"billing": "Stable", "audit": "Empty", "idle": "Empty"},
    )

    summary = summarize_round(snapshot, ("K", "billing"))

    assert summary.group_totals == {"billing": 12.0, "audit": 1.0, "idle": 0.0}
    assert summary.drilled == ("K", "billing")
    assert summary.partitions == {
        SeriesKey("K", "orders", "billing", 0, Metric.LAG): 3,
        SeriesKey("K", "orders", "billing", 1, Metric.LAG): 4,
    }
    assert all(s.partition is None for s in summary.snapshot.samples)
    assert len(summary.snapshot.samples) == 4
    assert summary.snapshot.group_states == snapshot.group_states
    # Drilled into a group of another connection: no partitions from this one.
    other = summarize_round(snapshot, ("Elsewhere", "billing"))
    assert other.partitions == {} and other.drilled is None
    assert summarize_round(snapshot, None).partitions == {}


def test_series_buffer_extend_keeps_order_and_the_newest_points_when_full():
    buffer = SeriesBuffer(capacity=8)
    for i in range(5):
        buffer.append(float(i), float(i))
    buffer.extend(np.arange(5.0, 12.0), np.arange(50.0, 120.0, 10.0))
    assert list(buffer.x) == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert buffer.last() == 110.0
    buffer.extend(np.arange(20.0, 40.0), np.arange(20.0, 40.0))  # more than it holds
    assert list(buffer.x) == list(np.arange(32.0, 40.0))
    buffer.append(40.0, 40.0)
    assert np.all(np.diff(buffer.x) > 0) and buffer.last() == 40.0


def test_a_hidden_chart_does_not_redraw_and_draws_at_most_its_pixels(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    chart.resize(400, 300)
    now = time.time()
    xs = now - 300 + np.arange(5000) * 0.06  # 5,000 points over the 5-minute window
    chart.extend("a", xs, np.sin(np.arange(5000)) * 100 + 100)
    chart.show_keys(["a"])
    qtbot.wait(200)  # four redraw ticks, hidden
    assert chart.redraws == 0

    chart.show()
    qtbot.waitUntil(lambda: chart.redraws == 1, timeout=2000)
    qtbot.wait(200)
    _x, y = chart.curve("a").getData()
    assert 0 < len(y) <= 2 * chart.plot_widget.width()  # peak mode: a min and a max per pixel
    assert y.max() == pytest.approx(200, abs=0.1)  # peaks survive the decimation

    # Nothing new: no redraw. A sample: one redraw. Curves of series still shown stay.
    curve = chart.curve("a")
    qtbot.wait(150)
    assert chart.redraws == 1
    chart.append("a", now + 0.5, 7.0)
    chart.show_keys(["a", "b"])
    qtbot.waitUntil(lambda: chart.redraws == 2, timeout=2000)
    assert chart.curve("a") is curve and chart.curve("b") is not None
    chart.show_keys(["b"])
    assert chart.curve("a") is None and curve not in chart.plot.listDataItems()


def test_the_legend_sits_beside_the_plot_scrolls_and_names_each_curve_whole(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    chart.resize(900, 160)  # as short as the Monitor's dead-letter charts
    long_name = "com.example.fulfilment.consumer-group-for-eu-west-1 (Production Kafka)"
    keys = [f"settlement-{i} (Local Kafka)" for i in range(9)] + [long_name]
    now = time.time()
    for i, key in enumerate(keys):
        chart.extend(key, now - 60 + np.arange(30) * 2.0, np.full(30, 100.0 * (i + 1)))
    assert not chart.legend.isVisible()  # nothing charted, nothing to name
    chart.show()
    chart.show_keys(keys)
    qtbot.waitUntil(lambda: chart.legend.count() == 10, timeout=5000)

    legend, plot = chart.legend.geometry(), chart.plot_widget.geometry()
    assert chart.legend.isVisible() and plot.width() > 500
    assert legend.left() > plot.right()  # beside the curves, not over them
    # Ten rows do not fit in 160 px: the list scrolls instead of cutting entries off. Qt
    # sets the scroll range in a delayed layout pass, after the rows are in.
    qtbot.waitUntil(lambda: chart.legend.verticalScrollBar().maximum() > 0, timeout=3000)
    items = [chart.legend.item(row) for row in range(10)]
    assert [item.text() for item in items] == keys  # Qt shortens them only when painting
    assert items[9].toolTip() == long_name
    colours = [chart.curve(k).opts["pen"].color() for k in keys]
    swatch = items[3].icon().pixmap(18, 10).toImage()
    assert swatch.pixelColor(9, 5) == colours[3]

    chart.set_stale(keys[:1])  # an unreachable broker: grey in the legend too
    stale = chart.legend.item(0).icon().pixmap(18, 10).toImage()
    assert stale.pixelColor(3, 5).name() == STALE_COLOR
    chart.show_keys(keys[5:])
    assert chart.legend.names() == keys[5:]


def test_charts_dirtied_together_redraw_on_separate_turns(qtbot):
    charts = [LagChartWidget(title) for title in ("lag", "depth", "inflow")]
    for chart in charts:
        qtbot.addWidget(chart)
        chart.show_keys(["a"])
        chart.show()
    qtbot.waitUntil(lambda: all(c.redraws == 1 for c in charts), timeout=2000)

    # One round dirties all three: each redraws on its own timer turn, never two at once
    # (their paints would add up in one paint pass).
    redrawn_at: list[float] = []
    for chart in charts:
        # Connected after the chart's own handler: runs right after each of its ticks.
        chart._timer.timeout.connect(
            lambda chart=chart, seen=[chart.redraws]: _note_redraw(chart, seen, redrawn_at)
        )
        chart.append("a", time.time(), 1.0)
    qtbot.waitUntil(lambda: all(c.redraws == 2 for c in charts), timeout=2000)
    assert len(redrawn_at) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(redrawn_at)]
    assert min(gaps) >= REDRAW_MS / 2000, gaps


def test_many_new_curves_are_made_a_few_per_turn(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    chart.show()
    keys = [f"group-{n}" for n in range(10)]
    chart.show_keys(keys)
    # Ten curves at once held the window ~100 ms with pyqtgraph's legend; 15-28 ms now.
    assert sum(chart.curve(k) is not None for k in keys) == 2
    qtbot.waitUntil(lambda: all(chart.curve(k) is not None for k in keys), timeout=3000)
    assert chart.legend.names() == keys


def test_curves_get_a_pen_once_and_a_new_one_only_when_it_changes(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    chart.show()
    keys = ["a", "b", "c", "d"]
    chart.show_keys(keys)
    qtbot.waitUntil(lambda: all(chart.curve(k) is not None for k in keys), timeout=3000)
    # Setting a pen redoes the curve's data: adding curves must not re-pen the others.
    pens_set: list[str] = []
    for key in keys:
        item = chart.curve(key)
        original = item.setPen
        item.setPen = lambda *a, key=key, original=original, **k: (
            pens_set.append(key),
            original(*a, **k),
        )
    colours = {k: chart.curve(k).opts["pen"].color().name() for k in keys}
    assert len(set(colours.values())) == 4

    chart.set_stale(["b"])  # b's broker is unreachable: grey and dashed
    assert pens_set == ["b"]
    pen = chart.curve("b").opts["pen"]
    assert pen.style() == Qt.PenStyle.DashLine and pen.color().name() == STALE_COLOR
    chart.set_stale([])
    assert pens_set == ["b", "b"]
    assert chart.curve("b").opts["pen"].color().name() == colours["b"]

    chart.show_keys(["d", "a", "b", "c"])  # a new order: every colour moves
    assert sorted(pens_set[2:]) == keys
    assert chart.curve("d").opts["pen"].color().name() == colours["a"]


def test_nice_ceiling_rounds_up_to_a_round_number():
    values = (0, 0.5, 1, 1.1, 1.3, 2.2, 3.5, 7, 10, 11, 4_100, 9_000, 26_000)
    assert [nice_ceiling(v) for v in values] == [
        1,
        1,
        1,
        1.2,
        1.5,
        2.5,
        4,
        8,
        10,
        12,
        5_000,
        10_000,
        30_000,
    ]


def test_a_followed_chart_moves_its_axes_in_steps_not_every_round(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    step = chart.window / FOLLOW_STEPS
    start = 1_700_000_000.0 - 1_700_000_000.0 % step  # a step boundary
    chart.show_keys(["a"])

    def ranges():
        (left, right), (bottom, top) = chart.plot.viewRange()
        return round(left, 3), round(right, 3), bottom, top

    chart.append("a", start + 1, 4_100)
    chart._follow(start + 1)
    first = ranges()
    # The last window, up to the next step, and a round number above the values.
    assert first == (round(start - chart.window, 3), start + step, 0, 5_000)
    # Later in the same step, values moving a little: nothing moves.
    for at, value in ((start + 3, 4_200), (start + 5, 3_900), (start + 7, 4_400)):
        chart.append("a", at, value)
        chart._follow(at)
        assert ranges() == first
    # The next step slides the time axis by one step; a value above the top raises it.
    chart.append("a", start + step + 1, 6_000)
    chart._follow(start + step + 1)
    assert ranges() == (first[0] + step, first[1] + step, 0, 8_000)
    # Values falling far below the top, once the high ones left the window: it comes down.
    later = start + chart.window + 2 * step + 1
    chart.append("a", later, 300)
    chart._follow(later)
    assert ranges()[3] == 400


def test_visible_points_keep_the_view_one_point_beyond_it_and_every_peak():
    x = np.arange(100.0)
    y = np.arange(100.0) * 10
    xs, ys = visible_points(x, y, 20.5, 30.5, bins=50)
    assert list(xs) == list(np.arange(20.0, 32.0))  # one point past each edge
    assert list(ys) == list(xs * 10)
    assert len(visible_points(x, y, 200, 300, bins=50)[0]) == 1  # the last, up to the edge

    # 10,000 points into 100 bins: a min and a max per bin, spikes one sample wide kept,
    # the newest point last as it was.
    x = np.arange(10_000.0)
    y = np.zeros(10_000)
    y[4_321] = 500.0
    y[-1] = 7.0
    xs, ys = visible_points(x, y, 0, 10_000, bins=100)
    assert len(xs) <= 2 * 100 + 100
    assert ys.max() == 500.0 and ys[-1] == 7.0 and xs[-1] == 9_999.0
    assert np.all(np.diff(xs) >= 0)


def test_the_curves_hold_the_view_and_follow_a_pan_but_not_past_a_pause(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    chart.show()
    now = time.time()
    # An hour of history at 2 s: the 5-minute window draws only its own points.
    chart.extend("a", now - 3_600 + np.arange(1_800) * 2.0, np.arange(1_800.0))
    chart.show_keys(["a"])
    qtbot.waitUntil(lambda: chart.redraws >= 1, timeout=2000)
    x, _y = chart.curve("a").getData()
    assert x[0] >= now - chart.window - 2 * chart.window / FOLLOW_STEPS - 2
    assert 150 <= len(x) <= 170

    # A move of the range alone (the time axis's step) redoes no curve: that was half of
    # a step's redraw, each curve clipped and decimated once for the new data and again
    # for the new range.
    curve = chart.curve("a")
    redone = []
    curve.updateItems = lambda *args, **kwargs: redone.append(args)
    left, right = chart.plot.viewRange()[0]
    chart.plot.setXRange(left + 10, right + 10, padding=0)
    assert redone == []
    del curve.updateItems

    # Paused, new samples are not drawn, and panning back draws the older points.
    chart.set_paused(True)
    chart.append("a", now + 1, 99_999.0)
    redraws = chart.redraws
    qtbot.wait(150)
    assert chart.redraws == redraws and chart.curve("a").getData()[1].max() < 99_999
    assert "99,999" not in chart.values_at(now + 5)  # the crosshair reads what is drawn
    chart.plot.getViewBox().translateBy(x=-1_800)
    chart.plot.getViewBox().sigRangeChangedManually.emit([True, False])  # as a drag does
    qtbot.waitUntil(lambda: chart.redraws > redraws, timeout=2000)
    x, y = chart.curve("a").getData()
    assert not chart.follow
    assert x[0] < now - 1_800 and y.max() < 99_999
    # Unpaused, the new sample is drawn.
    chart.set_paused(False)
    chart.plot.getViewBox().translateBy(x=1_800)
    qtbot.waitUntil(lambda: chart.curve("a").getData()[1].max() == 99_999, timeout=2000)
    assert "99,999" in chart.values_at(now + 5)


def test_the_value_axis_reads_as_whole_messages(qtbot):
    chart = LagChartWidget("lag")
    qtbot.addWidget(chart)
    chart.show_keys(["idle"])
    chart.append("idle", time.time(), 0.0)
    chart._follow(time.time())
    # An idle group's zero lag: not a 0-1 axis labelled 0.2 ... 0.8 messages.
    assert chart.plot.viewRange()[1] == [0.0, MIN_TOP]
    axis = chart.plot.getAxis("left")
    assert axis.tickStrings([0.0, 500_000.0, 1_000_000.0], 1.0, 500_000.0) == [
        "0",
        "500,000",
        "1,000,000",
    ]
    assert axis.tickStrings([0.5, 1.0], 1.0, 0.5) == ["0.5", "1.0"]  # rates: decimals stay


def test_charts_with_other_phases_move_their_time_axes_at_other_times(qtbot):
    charts = [LagChartWidget("lag", step_phase=phase) for phase in (0, 1 / 3, 2 / 3)]
    for chart in charts:
        qtbot.addWidget(chart)
    step = charts[0].window / FOLLOW_STEPS
    start = 1_700_000_000.0 - 1_700_000_000.0 % step
    moved_at: list[set[int]] = [set(), set(), set()]
    for second in range(1, 31):
        for i, chart in enumerate(charts):
            before = chart.plot.viewRange()[0][1]
            chart._follow(start + second)
            if chart.plot.viewRange()[0][1] != before and second > 1:
                moved_at[i].add(second)
    assert all(len(seconds) == 3 for seconds in moved_at)  # every 10 s, as one chart did
    assert not moved_at[0] & moved_at[1] and not moved_at[1] & moved_at[2]


def test_charts_shown_together_paint_their_first_frame_in_turns(qtbot):
    parent = QWidget()
    layout = QVBoxLayout(parent)
    charts = [LagChartWidget(title) for title in ("lag", "depth", "inflow")]
    for chart in charts:
        layout.addWidget(chart)
    qtbot.addWidget(parent)
    parent.resize(800, 900)
    parent.show()
    # A first paint is 15-25 ms of axis layout and text: three in one paint pass stalled
    # the Monitor's first show. At most one may paint now, the others on later turns.
    assert sum(chart.plot_widget.updatesEnabled() for chart in charts) <= 1
    qtbot.waitUntil(lambda: all(c.plot_widget.updatesEnabled() for c in charts), timeout=2000)
    # Until samples come, the time axis shows the window's times, not epoch 0.
    low, high = charts[0].plot.viewRange()[0]
    assert low > time.time() - 400 and high > time.time() - 60


def _note_redraw(chart: LagChartWidget, seen: list[int], redrawn_at: list[float]) -> None:
    if chart.redraws != seen[0]:
        seen[0] = chart.redraws
        redrawn_at.append(LagChartWidget._last_redraw_at)  # when that redraw began


async def _produce(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(PARTITIONS * PER_PARTITION):
            await producer.send(topic, f"m{i}".encode(), partition=i % PARTITIONS)
        await producer.flush()
    finally:
        await producer.stop()


def _partition_keys(monitor) -> set[SeriesKey]:
    return {k for k in monitor.lag_chart.keys() if k.partition is not None}


def _last(monitor, key: SeriesKey) -> float | None:
    buffer = monitor.lag_chart.buffer(key)
    return None if buffer is None else buffer.last()


@pytest.mark.kafka
def test_monitor_charts_the_groups_with_most_lag_and_partitions_of_the_drilled_group_only(
    driver: LoopDriver,
    open_window,
    kafka_bootstrap: str,
    kafka_profile: ConnectionProfile,
    kafka_topics: list[str],
    unique_name: str,
):
    topic = f"{unique_name}-orders"
    kafka_topics.append(topic)
    groups = [f"{unique_name}-g{i}" for i in range(4)]
    driver.run(create_topic(kafka_bootstrap, topic, partitions=PARTITIONS), timeout=60)
    driver.run(_produce(kafka_bootstrap, topic), timeout=60)
    for i, group in enumerate(groups):  # lags 3·(20 − 5i): every group its own
        offsets = dict.fromkeys(range(PARTITIONS), 5 * i)
        driver.run(commit_offsets(kafka_bootstrap, group, topic, offsets), timeout=60)

    window = open_window(kafka_profile)
    window.resize(1400, 900)
    monitor = window.monitor
    monitor.chart_groups = 2
    monitor.interval_spin.setValue(0.5)
    window.monitor_action.trigger()
    driver.settle()
    chart_width = monitor.lag_chart.width()
    totals = {g: PARTITIONS * (PER_PARTITION - 5 * i) for i, g in enumerate(groups)}
    driver.until(
        lambda: all(_last(monitor, group_key("Kafka", g)) == lag for g, lag in totals.items()),
        timeout=30,
        message="every group's summed lag",
    )

    # Not drilled: the chart draws the 2 groups with the most lag, the rest are listed.
    charted = monitor.charted_groups()
    shown = monitor.lag_chart.shown_keys()
    assert shown == [group_key(c, g) for c, g in charted] and len(shown) == 2
    lags = {cg: _last(monitor, group_key(*cg)) or 0.0 for cg in monitor._groups}
    assert min(lags[cg] for cg in charted) >= max(
        lag for cg, lag in lags.items() if cg not in charted
    )
    assert monitor.groups_table.rowCount() == len(monitor._groups) > 2
    assert f"the 2 of {len(monitor._groups)} groups with the most lag" in monitor.lag_chart.title
    assert "groups with the most lag" in monitor.groups_hint.text()
    # The longer hint wraps: it widened the groups pane to half the window once, the
    # charts squeezed beside it.
    driver.settle()
    assert monitor.lag_chart.width() == chart_width > 600
    # No partition is kept for groups nobody drilled into; per-topic rows stay listed.
    assert _partition_keys(monitor) == set()
    per_topic = SeriesKey("Kafka", topic, groups[0], None, Metric.LAG)
    driver.until(lambda: per_topic in monitor.series_model.rows(), timeout=10)

    # Drill into a group: its partitions, with the history sampled before it was chosen.
    stored = SeriesKey("Kafka", topic, groups[1], 0, Metric.LAG)
    driver.until(
        lambda: len(monitor._store.query(stored, 0, 2e9)) >= 3,
        timeout=30,
        message="a few rounds of partition lag in the history",
    )
    drilled_at = time.time()
    monitor.select_group("Kafka", groups[1])
    mine = {SeriesKey("Kafka", topic, groups[1], p, Metric.LAG) for p in range(PARTITIONS)}
    driver.until(
        lambda: (
            set(monitor.lag_chart.shown_keys()) == mine
            and all(_last(monitor, k) == PER_PARTITION - 5 for k in mine)
            and all(monitor.lag_chart.buffer(k).x[0] < drilled_at - 0.4 for k in mine)
        ),
        timeout=30,
        message="the drilled group's partitions, history included",
    )
    assert _partition_keys(monitor) == mine
    assert monitor.lag_chart.title == f"Partition lag of {groups[1]}"
    for key in mine:
        assert np.all(np.diff(monitor.lag_chart.buffer(key).x) > 0)  # history, then live

    # Another group: the first one's partitions are dropped.
    monitor.select_group("Kafka", groups[2])
    others = {SeriesKey("Kafka", topic, groups[2], p, Metric.LAG) for p in range(PARTITIONS)}
    driver.until(
        lambda: (
            _partition_keys(monitor) == others
            and all(_last(monitor, k) == PER_PARTITION - 10 for k in others)
        ),
        timeout=30,
        message="the second group's partitions only",
    )
    monitor.select_group("Kafka", None)
    driver.until(lambda: len(monitor.lag_chart.shown_keys()) == 2, timeout=10)
    assert _partition_keys(monitor) == set()
