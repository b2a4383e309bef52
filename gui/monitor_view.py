"""The Monitor view: consumer lag and DLQ depth charted live, group health, alerts.

It owns a `Sampler` over the window's connections (its own connectors, never the
browsing ones) and observes its snapshots: each is summed up in slices across loop turns
(group totals; partitions only of the group drilled into), the summary goes into charts,
every sample into the metrics store, alert rules are judged on each one and their events
go to the event log; the charts redraw on their own timer. On open, the charts are
filled from history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from eventdesk.connectors.alerts import (
    HEALTH_ORDER,
    AlertEvaluator,
    AlertRule,
    EventKind,
    EventLog,
    TimelineEvent,
    load_rules,
)
from eventdesk.connectors.health import Health, HealthState
from eventdesk.connectors.metrics_store import DAY, MetricsStore
from eventdesk.connectors.sampling import (
    ConnectorFactory,
    Metric,
    Sample,
    Sampler,
    SeriesKey,
    Snapshot,
)
from PySide6.QtCore import QModelIndex, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .alert_log_widget import AlertLogWidget
from .alert_rules_dialog import AlertRulesDialog
from .connection_tree_model import EndpointMark
from .health_colors import HEALTH_COLORS
from .lag_chart_widget import LagChartWidget
from .operations import AsyncOp, TaskOwner, report_failure
from .sparkline_delegate import SPARKLINE_ROLE, SparklineDelegate
from .table_model import ReadOnlyTableModel
from .table_view import TableView

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
WINDOW_PRESETS = (("5 min", 300.0), ("1 h", 3600.0), ("24 h", 86400.0))
_GREY = QColor("#9e9e9e")

FactoriesProvider = Callable[[], Mapping[str, ConnectorFactory]]
HISTORY_S = DAY  # the longest window preset: what the charts are filled with on open
LOG_ROWS_ON_OPEN = 200
EVENTS_KEPT_S = 90 * DAY  # alerts outlive samples: incident reports look back further
_CHARTED = (Metric.DLQ_DEPTH, Metric.DLQ_INFLOW)
# Groups drawn at once when none is drilled into: those with the most lag. Fifty curves
# cost a redraw and a paint of about 60 ms each (tests/benchmarks/RESULTS.md, Monitor).
CHARTED_GROUPS = 10
STORE_SLICE = 1000  # samples written to the history per transaction
STORE_PAUSE_S = 0.1  # at most, before each slice (see MonitorView._store_samples)
SUMMARY_SLICE = 2000  # samples summed up per event loop turn (~2 ms)


def group_key(connection: str, group: str) -> SeriesKey:
    """A group's lag summed over its topics and partitions (endpoint "" = every topic)."""
    return SeriesKey(connection, "", group, None, Metric.LAG)


def _series_label(key: Hashable) -> str:
    assert isinstance(key, SeriesKey)
    if key.metric in _CHARTED:
        return f"{key.endpoint} ({key.connection})"
    if key.partition is not None:
        return f"{key.endpoint}[{key.partition}]"
    return f"{key.group} ({key.connection})"


class _Trend:
    """A series' last values for its sparkline, in a ring allocated once: kept as floats
    in a deque, the table's trends grew the Monitor's memory for their first minutes."""

    __slots__ = ("_count", "_ring")

    def __init__(self, size: int) -> None:
        self._ring = np.empty(size, dtype=np.float64)
        self._count = 0

    def add(self, value: float) -> None:
        self._ring[self._count % len(self._ring)] = value
        self._count += 1

    def values(self) -> list[float]:
        """Oldest first."""
        size = len(self._ring)
        if self._count <= size:
            return self._ring[: self._count].tolist()
        split = self._count % size
        return [*self._ring[split:].tolist(), *self._ring[:split].tolist()]


class SeriesTableModel(ReadOnlyTableModel[SeriesKey]):
    """Every watched series with its latest value; rows appended in batches by `flush`."""

    HEADERS = ("Connection", "Endpoint", "Group", "Partition", "Metric", "Latest", "At", "Trend")
    TREND_COLUMN = 7
    TREND_POINTS = 60  # the sparkline's last samples per series

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._keys: list[SeriesKey] = []
        self._rows: dict[SeriesKey, int] = {}
        self._values: dict[SeriesKey, tuple[float, float]] = {}
        self._pending: dict[SeriesKey, tuple[float, float]] = {}
        self._trends: dict[SeriesKey, _Trend] = {}
        self._stale: set[str] = set()

    def rows(self) -> list[SeriesKey]:
        return self._keys

    def values(self, key: SeriesKey) -> tuple[str, ...]:
        at, value = self._values[key]
        return (
            key.connection,
            key.endpoint or "(all topics)",
            key.group,
            "" if key.partition is None else str(key.partition),
            key.metric.value,
            f"{value:,.0f}" if value == int(value) else f"{value:,.2f}",
            time.strftime("%H:%M:%S", time.localtime(at)),
            "",
        )

    def role_data(self, key: SeriesKey, column: int, role: int) -> object:
        if role == SPARKLINE_ROLE and column == self.TREND_COLUMN:
            trend = self._trends.get(key)
            return trend.values() if trend is not None else []
        if role == Qt.ItemDataRole.ForegroundRole and key.connection in self._stale:
            return QBrush(_GREY)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (3, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def update(self, key: SeriesKey, at: float, value: float) -> None:
        self._pending[key] = (at, value)

    def set_stale_connections(self, names: set[str]) -> None:
        if names != self._stale:
            self._stale = set(names)
            if self._keys:
                self.dataChanged.emit(
                    self.index(0, 0), self.index(len(self._keys) - 1, len(self.HEADERS) - 1)
                )

    def latest(self, key: SeriesKey) -> float | None:
        value = self._values.get(key)
        return None if value is None else value[1]

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        new = [k for k in pending if k not in self._rows]
        self._values.update(pending)
        for key, (_at, value) in pending.items():
            trend = self._trends.get(key)
            if trend is None:
                trend = self._trends[key] = _Trend(self.TREND_POINTS)
            trend.add(value)
        if new:
            first = len(self._keys)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for key in new:
                self._rows[key] = len(self._keys)
                self._keys.append(key)
            self.endInsertRows()
        if self._keys:
            self.dataChanged.emit(
                self.index(0, 5), self.index(len(self._keys) - 1, self.TREND_COLUMN)
            )


class MonitorView(QWidget, TaskOwner):
    """Live lag and DLQ depth per connection, sampled while the view runs."""

    # An alert fired or recovered (TimelineEvent): the window notifies the desktop.
    alert_raised = Signal(object)
    # Alerts, recoveries and health changes, once per snapshot that had any.
    events_recorded = Signal(object)
    # {(connection, endpoint): EndpointMark}, whenever a health badge or alert changed.
    endpoint_marks_changed = Signal(object)
    # Export incident report: [(connection, endpoint)] of the DLQs charted now.
    report_requested = Signal(object)

    def __init__(
        self,
        factories: FactoriesProvider,
        *,
        store: MetricsStore | None = None,
        open_store: bool = True,
        event_log: EventLog | None = None,
        rules_path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._factories = factories
        self._store = store
        self._open_store = open_store and store is None
        self._owns_store = False
        self._event_log = event_log
        self._owns_event_log = False
        self._rules_path = rules_path
        self.evaluator = AlertEvaluator()
        self._marks: dict[tuple[str, str], EndpointMark] = {}
        self._opening: asyncio.Future[None] | None = None
        self._history_loaded = False
        self.history_points_loaded = 0
        self.rules_dialog: AlertRulesDialog | None = None
        self.sampler: Sampler | None = None
        self._started = False
        self._latest: dict[str, Snapshot] = {}
        self._unreachable_since: dict[str, float] = {}
        self._groups: list[tuple[str, str]] = []
        self._selected_group: tuple[str, str] | None = None
        # The drilled group's partition series (an ordered set: dict keys). Only that
        # group's: 5,000 partition buffers cost memory and time for curves nobody sees.
        self._partitions: dict[tuple[str, str], dict[SeriesKey, None]] = {}
        self.chart_groups = CHARTED_GROUPS
        self._dlqs: list[SeriesKey] = []
        self._inflows: list[SeriesKey] = []
        self.snapshots_seen = 0

        # Controls.
        self.interval_spin = QDoubleSpinBox(self)
        self.interval_spin.setRange(0.1, 3600.0)
        self.interval_spin.setDecimals(1)
        self.interval_spin.setSuffix(" s")
        self.interval_spin.setValue(DEFAULT_INTERVAL_S)
        self.interval_spin.setToolTip("How often every connection is sampled")
        self.interval_spin.valueChanged.connect(self._on_interval_spin_value_changed)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the charts; sampling and history go on")
        self.pause_button.toggled.connect(self._on_pause_button_toggled)
        self.window_buttons = QButtonGroup(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Sample every", self))
        controls.addWidget(self.interval_spin)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Window:", self))
        for i, (text, _seconds) in enumerate(WINDOW_PRESETS):
            button = QPushButton(text, self)
            button.setCheckable(True)
            button.setChecked(i == 0)
            button.setToolTip(f"Show the last {text} and follow new samples")
            self.window_buttons.addButton(button, i)
            controls.addWidget(button)
        self.custom_button = QPushButton("Custom", self)
        self.custom_button.setCheckable(True)
        self.custom_button.setToolTip("Show the last N minutes, N set beside it")
        self.window_buttons.addButton(self.custom_button, len(WINDOW_PRESETS))
        controls.addWidget(self.custom_button)
        self.custom_spin = QSpinBox(self)
        self.custom_spin.setRange(1, int(HISTORY_S // 60) * 7)
        self.custom_spin.setValue(30)
        self.custom_spin.setSuffix(" min")
        self.custom_spin.setEnabled(False)
        self.custom_spin.setToolTip("The custom window, in minutes")
        self.custom_spin.valueChanged.connect(self._on_custom_spin_value_changed)
        controls.addWidget(self.custom_spin)
        self.window_buttons.idClicked.connect(self._on_window_buttons_id_clicked)
        controls.addSpacing(12)
        controls.addWidget(self.pause_button)
        self.rules_button = QPushButton("Alert rules…", self)
        self.rules_button.setToolTip("Thresholds per endpoint that raise a desktop notification")
        self.rules_button.clicked.connect(self._on_rules_button_clicked)
        controls.addWidget(self.rules_button)
        self.report_button = QPushButton("Export report…", self)
        self.report_button.setToolTip(
            "An incident report over the DLQs charted here, from the first alert in view"
        )
        self.report_button.clicked.connect(self._on_report_button_clicked)
        controls.addWidget(self.report_button)
        controls.addStretch(1)
        self.status_label = QLabel("Not sampling yet.", self)
        controls.addWidget(self.status_label)
        # The status may be long ("Sampling 12 connection(s)…"); it must not set the tab's
        # minimum width, which would squeeze the connection tree beside it.
        self.status_label.setMinimumWidth(1)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.unreachable_label = QLabel(self)
        self.unreachable_label.setStyleSheet("color: #b71c1c;")
        self.unreachable_label.setWordWrap(True)
        self.unreachable_label.hide()

        # Health badges, one row per consumer group.
        self.groups_table = QTableWidget(0, 3, self)
        self.groups_table.setHorizontalHeaderLabels(["Consumer group", "Health", "Lag"])
        self.groups_table.verticalHeader().hide()
        self.groups_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.groups_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.groups_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.groups_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.groups_table.itemSelectionChanged.connect(self._on_groups_table_selection_changed)
        # Group names are long and alike at the start: keep both ends readable.
        self.groups_table.setWordWrap(False)
        self.groups_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.groups_hint = QLabel("Select a group to see its partitions.", self)
        self.groups_hint.setEnabled(False)
        # Wrapped: the longer hint that comes with the first round (or a long group's name)
        # must not widen the groups pane and squeeze the charts (it took half the window).
        self.groups_hint.setWordWrap(True)

        self.lag_chart = LagChartWidget("Consumer group lag", label=_series_label, parent=self)
        self.dlq_chart = LagChartWidget(
            "Dead-letter depth", label=_series_label, step_phase=1 / 3, parent=self
        )
        self.inflow_chart = LagChartWidget(
            "Dead-letter inflow (messages/min)",
            label=_series_label,
            y_label="messages/min",
            step_phase=2 / 3,
            parent=self,
        )
        self.alert_log = AlertLogWidget(self)

        self.series_model = SeriesTableModel(self)
        self.series_table = TableView(self)
        self.series_table.setModel(self.series_model)
        self.series_table.verticalHeader().hide()
        self.series_table.verticalHeader().setDefaultSectionSize(20)
        self.series_table.horizontalHeader().setStretchLastSection(True)
        self.series_table.setAlternatingRowColors(True)
        self.series_table.setWordWrap(False)
        self.series_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.series_table.setItemDelegateForColumn(
            SeriesTableModel.TREND_COLUMN, SparklineDelegate(self.series_table)
        )

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.groups_table, 1)
        left_layout.addWidget(self.groups_hint)
        charts = QSplitter(Qt.Orientation.Vertical, self)
        charts.addWidget(self.lag_chart)
        charts.addWidget(self.dlq_chart)
        charts.addWidget(self.inflow_chart)
        self.bottom_tabs = QTabWidget(self)
        self.bottom_tabs.addTab(self.series_table, "Latest values")
        self.bottom_tabs.addTab(self.alert_log, "Alert log")
        charts.addWidget(self.bottom_tabs)
        charts.setSizes([380, 200, 160, 180])
        charts.setChildrenCollapsible(False)
        body = QSplitter(Qt.Orientation.Horizontal, self)
        body.addWidget(left)
        body.addWidget(charts)
        body.setStretchFactor(1, 1)
        body.setSizes([300, 900])
        body.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.unreachable_label)
        layout.addWidget(body, 1)

        # Tables refresh in batches, like the charts: never per sample.
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(250)
        self._flush_timer.timeout.connect(self.series_model.flush)
        self._flush_timer.start()

    # -- lifecycle ---------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._started:
            # Only once the operator looks: sampling opens its own connections.
            QTimer.singleShot(0, self.start)

    def start(self) -> None:
        """Start sampling (idempotent); the view samples until closed."""
        if self._started:
            return
        self._started = True
        self._restart()

    def _stores_opened(self) -> asyncio.Future[None]:
        """Opens the stores once; a restart that cancels a run does not cancel this."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open_stores())
        return asyncio.shield(self._opening)

    async def _open_stores(self) -> None:
        """The history, the alert log and the rules, read in a thread: opening a new SQLite
        file syncs it to disk (~100 ms here), a stall the Monitor's first show must not
        have. Each failure is reported; sampling goes on without what failed."""
        if self._open_store and self._store is None:
            try:
                self._store = await asyncio.to_thread(MetricsStore)
                self._owns_store = True
            except Exception as exc:
                report_failure(self, exc, context="Opening the metrics history")
        if self._event_log is None:
            try:
                self._event_log = await asyncio.to_thread(EventLog)
                self._owns_event_log = True
            except Exception as exc:
                report_failure(self, exc, context="Opening the alert log")
        try:
            self.evaluator.set_rules(await asyncio.to_thread(load_rules, self._rules_path))
        except Exception as exc:
            report_failure(self, exc, context="Reading the alert rules")

    @property
    def running(self) -> bool:
        return self.is_running("sampler")

    def set_connections_changed(self) -> None:
        """The window's connections changed: sample the new set from now on."""
        if self._started:
            self._restart()

    def _restart(self) -> None:
        factories = dict(self._factories())
        sampler = Sampler(
            factories,
            interval=self.interval_spin.value(),
            on_snapshot=self._on_sampler_snapshot,
        )
        old, self.sampler = self.sampler, sampler

        async def run() -> None:
            if old is not None:
                await old.close()
            await self._stores_opened()
            if not self._history_loaded:
                # Before the first live sample: chart buffers take points in time order.
                self._history_loaded = True
                await self._load_history(set(factories))
            async with sampler:
                await asyncio.Event().wait()  # until cancelled

        self.status_label.setText(
            f"Sampling {len(factories)} connection(s)" if factories else "No connections."
        )
        AsyncOp(self, run).latest_wins("sampler").with_context("Sampling").run()

    async def aclose(self) -> None:
        """Stop sampling and close the sampler's connectors and the store. Idempotent."""
        task = self.cancel_task("sampler")
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        sampler, self.sampler = self.sampler, None
        if sampler is not None:
            await sampler.close()
        if self._opening is not None:
            await asyncio.gather(self._opening, return_exceptions=True)  # then close them
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None
        if self._owns_event_log and self._event_log is not None:
            self._event_log.close()
            self._event_log = None

    # -- history -----------------------------------------------------------------------

    async def _load_history(self, connections: set[str]) -> None:
        """Charts and the alert log from the stores, so they survive a restart."""
        store, event_log = self._store, self._event_log
        until = time.time()
        try:
            if store is not None:
                points = await asyncio.to_thread(
                    read_chart_history, store, connections, until - HISTORY_S, until
                )
                self._apply_history(points)
            if event_log is not None:
                await asyncio.to_thread(event_log.prune, until - EVENTS_KEPT_S)
                self.alert_log.add(await asyncio.to_thread(event_log.latest, LOG_ROWS_ON_OPEN))
        except Exception as exc:  # history is a comfort: live sampling goes on without it
            report_failure(self, exc, context="Loading the monitoring history")

    def _apply_history(self, points: Mapping[SeriesKey, list[tuple[float, float]]]) -> None:
        for key, series in points.items():
            if key.metric is Metric.LAG:
                chart, keys = self.lag_chart, None
                if (key.connection, key.group) not in self._groups:
                    self._groups.append((key.connection, key.group))
            else:
                chart = self.dlq_chart if key.metric is Metric.DLQ_DEPTH else self.inflow_chart
                keys = self._dlqs if key.metric is Metric.DLQ_DEPTH else self._inflows
            if keys is not None and key not in keys:
                keys.append(key)
            if series:
                chart.extend(key, *np.array(series, dtype=np.float64).T)
                self.series_model.update(key, *series[-1])
            self.history_points_loaded += len(series)
        self._update_groups_table()
        self._update_shown()

    # -- alerts ------------------------------------------------------------------------

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        self.evaluator.set_rules(rules)
        self._update_marks()

    def open_alert_rules(self, connection: str = "", endpoint: str = "") -> AlertRulesDialog:
        """The rules dialog, prefilled for an endpoint when given; saving applies at once."""
        names = sorted(set(self._factories()) | set(self._latest))
        dialog = AlertRulesDialog(
            self.evaluator.rules,
            connections=names,
            connection=connection,
            endpoint=endpoint,
            path=self._rules_path,
            parent=self,
        )
        dialog.rules_saved.connect(self.set_rules)
        dialog.finished.connect(dialog.deleteLater)
        self.rules_dialog = dialog
        dialog.open()
        return dialog

    async def _record(self, events: list[TimelineEvent]) -> None:
        self.alert_log.add(events)
        self.events_recorded.emit(events)
        for event in events:
            if event.kind is not EventKind.HEALTH:
                self.alert_raised.emit(event)
        if self._event_log is not None:
            try:
                await asyncio.to_thread(self._event_log.record, events)
            except Exception as exc:
                log.warning("Recording alert events failed: %s", exc)

    def endpoint_marks(self) -> dict[tuple[str, str], EndpointMark]:
        return dict(self._marks)

    def _update_marks(self) -> None:
        marks = endpoint_marks(self._latest.values(), self.evaluator)
        if marks != self._marks:
            self._marks = marks
            self.endpoint_marks_changed.emit(dict(marks))

    # -- snapshots ---------------------------------------------------------------------

    async def _on_sampler_snapshot(self, snapshot: Snapshot) -> None:
        if self.sampler is None:
            return
        summary = await self._summarize(snapshot)
        if self.sampler is None:  # closed meanwhile
            return
        self._apply(summary)
        for update_charts in (self._update_lag_chart, self._update_dlq_charts):
            # Each chart in a turn of its own, after the table's: a round's table, first
            # curves and their paints in one turn held the window 60-70 ms.
            await asyncio.sleep(0)
            if self.sampler is None:
                return
            update_charts()
        events = self.evaluator.evaluate(summary.snapshot)
        self._update_marks()
        if events:
            await self._record(events)
        if not snapshot.stale and snapshot.samples and self._store is not None:
            try:
                await self._store_samples(self._store, snapshot.samples)
            except Exception as exc:
                log.warning("Storing samples failed: %s", exc)

    async def _store_samples(self, store: MetricsStore, samples: tuple[Sample, ...]) -> None:
        """In slices of one transaction each, a pause before each: the writer thread takes
        a CPU and the GIL the UI thread needs to draw the round just applied (two CPUs here,
        shared with the brokers), and a round's 10,000 rows written back to back overlapped
        that drawing every time. Paced over at most half the interval, a round is history
        within a second or so and the drawing runs mostly alone."""
        slices = range(0, len(samples), STORE_SLICE)
        pause = min(STORE_PAUSE_S, self.interval_spin.value() / 2 / max(1, len(slices)))
        for start in slices:
            await asyncio.sleep(pause)
            await asyncio.to_thread(store.add, samples[start : start + STORE_SLICE])

    async def _summarize(self, snapshot: Snapshot) -> RoundSummary:
        """The round summed up in slices, the loop turning between them: 10,000 samples at
        once held the UI for ~100 ms. Not in a thread: a thread busy with Python makes the
        UI thread wait for the GIL at every Qt call (seen as stalls during paints)."""
        summary = RoundSummarizer(snapshot, self._selected_group)
        samples = snapshot.samples
        for start in range(0, len(samples), SUMMARY_SLICE):
            summary.add(samples[start : start + SUMMARY_SLICE])
            await asyncio.sleep(0)
        return summary.result()

    def _apply(self, summary: RoundSummary) -> None:
        """Observe one round: buffers, latest values, health, reachability. The charts show
        the new series on their own turns (`_on_sampler_snapshot`)."""
        self.snapshots_seen += 1
        snapshot = summary.snapshot
        name = snapshot.connection
        self._latest[name] = snapshot
        if snapshot.stale:
            self._unreachable_since.setdefault(name, snapshot.at)
        else:
            self._unreachable_since.pop(name, None)
            self._apply_samples(snapshot)
            self._apply_group_totals(name, snapshot.at, summary.group_totals)
            if summary.drilled is not None and summary.drilled == self._selected_group:
                self._apply_partitions(summary.drilled, snapshot.at, summary.partitions)
        self._update_groups_table()
        self._update_unreachable()

    def _apply_samples(self, snapshot: Snapshot) -> None:
        """The round's samples but partitions: table rows, DLQ depth and inflow charts."""
        for sample in snapshot.samples:
            key = sample.series
            self.series_model.update(key, sample.at, sample.value)
            if sample.metric is Metric.DLQ_DEPTH:
                self.dlq_chart.append(key, snapshot.at, sample.value)
                if key not in self._dlqs:
                    self._dlqs.append(key)
            elif sample.metric is Metric.DLQ_INFLOW:
                self.inflow_chart.append(key, snapshot.at, sample.value)
                if key not in self._inflows:
                    self._inflows.append(key)

    def _apply_group_totals(self, connection: str, at: float, totals: dict[str, float]) -> None:
        for group, lag in totals.items():
            key = group_key(connection, group)
            self.lag_chart.append(key, at, lag)
            self.series_model.update(key, at, lag)
            if (connection, group) not in self._groups:
                self._groups.append((connection, group))

    def _apply_partitions(
        self, drilled: tuple[str, str], at: float, lags: dict[SeriesKey, float]
    ) -> None:
        parts = self._partitions.setdefault(drilled, {})
        for key, lag in lags.items():
            self.lag_chart.append(key, at, lag)
            parts.setdefault(key)

    def _update_shown(self) -> None:
        self._update_lag_chart()
        self._update_dlq_charts()

    def _update_dlq_charts(self) -> None:
        self.dlq_chart.show_keys(self._dlqs)
        self.inflow_chart.show_keys(self._inflows)

    def _update_lag_chart(self) -> None:
        if self._selected_group is not None:
            keys = sorted(
                list(self._partitions.get(self._selected_group, {})),
                key=lambda k: (k.endpoint, k.partition),
            )
            title = f"Partition lag of {self._selected_group[1]}"
        else:
            charted = self.charted_groups()
            keys = [group_key(c, g) for c, g in charted]
            title = "Consumer group lag"
            if len(charted) < len(self._groups):
                title += f": the {len(charted)} of {len(self._groups)} groups with the most lag"
        self.lag_chart.set_title(title)
        self.lag_chart.show_keys(keys)

    def charted_groups(self) -> list[tuple[str, str]]:
        """The groups drawn: all, or the `chart_groups` with the most lag now, in list order."""
        if len(self._groups) <= self.chart_groups:
            return list(self._groups)

        def lag(group: tuple[str, str]) -> float:
            buffer = self.lag_chart.buffer(group_key(*group))
            return (buffer.last() or 0.0) if buffer is not None else 0.0

        top = set(sorted(self._groups, key=lag, reverse=True)[: self.chart_groups])
        return [group for group in self._groups if group in top]

    def _update_unreachable(self) -> None:
        stale = set(self._unreachable_since)
        self.series_model.set_stale_connections(stale)
        self.lag_chart.set_stale(k for k in self.lag_chart.keys() if k.connection in stale)
        self.dlq_chart.set_stale(k for k in self.dlq_chart.keys() if k.connection in stale)
        self.inflow_chart.set_stale(k for k in self.inflow_chart.keys() if k.connection in stale)
        if not stale:
            self.unreachable_label.hide()
            return
        lines = []
        for name, since in sorted(self._unreachable_since.items()):
            snapshot = self._latest[name]
            at = time.strftime("%H:%M:%S", time.localtime(since))
            kept = " — last values greyed" if snapshot.samples else ""
            lines.append(f"⚠ {name} unreachable since {at}{kept} ({snapshot.error})")
        self.unreachable_label.setText("\n".join(lines))
        self.unreachable_label.show()

    def unreachable_text(self, connection: str) -> str | None:
        since = self._unreachable_since.get(connection)
        if since is None:
            return None
        return f"{connection} unreachable since {time.strftime('%H:%M:%S', time.localtime(since))}"

    def health(self, connection: str, group: str) -> Health | None:
        snapshot = self._latest.get(connection)
        return snapshot.health.get(group) if snapshot is not None else None

    def _update_groups_table(self) -> None:
        table = self.groups_table
        if table.rowCount() != len(self._groups):
            table.setRowCount(len(self._groups))
            self._update_groups_hint()
        if not self._groups:
            return
        # Each cell's change would tell the view on its own, and the header, sized to its
        # contents, measures every row each time (0.8 ms a cell at 50 groups): the view
        # hears of the whole table once.
        model = table.model()
        with QSignalBlocker(model):
            changed = self._fill_groups_table()
        if changed:
            model.dataChanged.emit(
                model.index(0, 0), model.index(len(self._groups) - 1, table.columnCount() - 1)
            )

    def _fill_groups_table(self) -> bool:
        """Sets every cell; whether any changed."""
        table = self.groups_table
        changed = False
        for row, (connection, group) in enumerate(self._groups):
            snapshot = self._latest.get(connection)
            stale = snapshot is None or snapshot.stale
            health = self.health(connection, group)
            if health is None and snapshot is not None and snapshot.stale:
                health = Health(HealthState.ERROR, "The broker cannot be reached.")
            state = health.state if health is not None else HealthState.OK
            reason = health.reason if health is not None else "No judgement yet."
            if snapshot is None:  # known from history only, until the first live round
                reason = "From history; no live sample yet."
            buffer = self.lag_chart.buffer(group_key(connection, group))
            lag = buffer.last() if buffer is not None else None
            text = table.palette().text().color()
            changed |= self._set_cell(
                row, 0, f"{group}  ·  {connection}", f"{group} on {connection}", stale, text
            )
            changed |= self._set_cell(
                row, 1, f"● {state.value.upper()}", reason, False, QColor(HEALTH_COLORS[state])
            )
            changed |= self._set_cell(row, 2, "" if lag is None else f"{lag:,.0f}", "", stale, text)
        return changed

    def _set_cell(
        self, row: int, column: int, text: str, tip: str, stale: bool, colour: QColor
    ) -> bool:
        """One cell of the groups table, touched only where it changed; whether it did."""
        table = self.groups_table
        item = table.item(row, column)
        changed = item is None
        if item is None:
            item = QTableWidgetItem()
            if column == 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, column, item)
        if item.text() != text:
            item.setText(text)
            changed = True
        if item.toolTip() != tip:
            item.setToolTip(tip)
        colour = _GREY if stale else colour
        if item.foreground().color() != colour:
            item.setForeground(QBrush(colour))
            changed = True
        return changed

    # -- handlers ----------------------------------------------------------------------

    def _on_rules_button_clicked(self) -> None:
        self.open_alert_rules()

    def _on_report_button_clicked(self) -> None:
        charted = dict.fromkeys((key.connection, key.endpoint) for key in self._dlqs)
        self.report_requested.emit(list(charted))

    def _on_interval_spin_value_changed(self, seconds: float) -> None:
        if self.sampler is not None:
            self.sampler.set_interval(seconds)

    def _on_pause_button_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.lag_chart.set_paused(paused)
        self.dlq_chart.set_paused(paused)
        self.inflow_chart.set_paused(paused)

    def _on_window_buttons_id_clicked(self, index: int) -> None:
        custom = index == len(WINDOW_PRESETS)
        self.custom_spin.setEnabled(custom)
        self._set_window(self.custom_spin.value() * 60.0 if custom else WINDOW_PRESETS[index][1])

    def _on_custom_spin_value_changed(self, minutes: int) -> None:
        if self.custom_button.isChecked():
            self._set_window(minutes * 60.0)

    def _set_window(self, seconds: float) -> None:
        self.lag_chart.set_window(seconds)
        self.dlq_chart.set_window(seconds)
        self.inflow_chart.set_window(seconds)

    def _on_groups_table_selection_changed(self) -> None:
        rows = {index.row() for index in self.groups_table.selectedIndexes()}
        selected = self._groups[min(rows)] if rows else None
        if selected == self._selected_group:
            return
        if self._selected_group is not None:
            self.lag_chart.forget(self._partitions.pop(self._selected_group, {}))
        self._selected_group = selected
        self._update_groups_hint()
        self._update_shown()
        if selected is not None and self._store is not None:
            AsyncOp(self, lambda: self._load_partition_history(selected)).latest_wins(
                "partition-history"
            ).with_context("Loading the partitions' history").run()

    async def _load_partition_history(self, group: tuple[str, str]) -> None:
        """The drilled group's partitions over the chart's window, from the store: live
        rounds only keep partitions of the group drilled into."""
        store = self._store
        if store is None:
            return
        until = time.time()
        start = until - min(self.lag_chart.window, HISTORY_S)
        points = await asyncio.to_thread(read_partition_history, store, group, start, until)
        if group != self._selected_group:
            return
        parts = self._partitions.setdefault(group, {})
        for key, (xs, ys) in points.items():
            self._prepend_history(key, xs, ys)
            parts.setdefault(key)
        self._update_shown()

    def _prepend_history(self, key: SeriesKey, xs: np.ndarray, ys: np.ndarray) -> None:
        """History before the live points the chart already took for `key`."""
        buffer = self.lag_chart.buffer(key)
        live_x = buffer.x.copy() if buffer is not None else np.empty(0)
        live_y = buffer.y.copy() if buffer is not None else np.empty(0)
        older = int(np.searchsorted(xs, live_x[0])) if len(live_x) else len(xs)
        if not older:
            return
        self.lag_chart.forget([key])
        self.lag_chart.extend(key, xs[:older], ys[:older])
        self.lag_chart.extend(key, live_x, live_y)

    def _update_groups_hint(self) -> None:
        if self._selected_group is not None:
            text = f"Partitions of {self._selected_group[1]}; clear the selection for all groups."
        elif len(self._groups) > self.chart_groups:
            text = (
                f"The chart shows the {self.chart_groups} groups with the most lag; the rest "
                "are listed here. Select a group to see its partitions."
            )
        else:
            text = "Select a group to see its partitions."
        if text != self.groups_hint.text():
            self.groups_hint.setText(text)

    def select_group(self, connection: str, group: str | None) -> None:
        if group is None:
            self.groups_table.clearSelection()
            return
        self.groups_table.selectRow(self._groups.index((connection, group)))


# -- pure helpers (no widgets): a round's summary, history reading, endpoint marks ------


@dataclass(frozen=True, slots=True)
class RoundSummary:
    """One snapshot as the view needs it: a few hundred values instead of 10,000."""

    # The snapshot without per-partition samples: what the view keeps, judges and lists.
    snapshot: Snapshot
    # Consumer group -> lag summed over its topics (0 for a group with no partitions).
    group_totals: dict[str, float]
    # The (connection, group) drilled into when the summary was made, and its partition lags.
    drilled: tuple[str, str] | None
    partitions: dict[SeriesKey, float]


class RoundSummarizer:
    """Builds a `RoundSummary` from a snapshot's samples, given in as many slices as wanted."""

    def __init__(self, snapshot: Snapshot, drilled: tuple[str, str] | None) -> None:
        self._snapshot = snapshot
        mine = drilled is not None and drilled[0] == snapshot.connection
        self._drilled = drilled if mine else None
        self._group = drilled[1] if drilled is not None and mine else None
        self._kept: list[Sample] = []
        self._totals: dict[str, float] = {}
        self._partitions: dict[SeriesKey, float] = {}

    def add(self, samples: Iterable[Sample]) -> None:
        kept, totals, partitions, group = self._kept, self._totals, self._partitions, self._group
        for sample in samples:
            if sample.partition is None:
                kept.append(sample)
                if sample.metric is Metric.LAG and sample.group is not None:
                    totals[sample.group] = totals.get(sample.group, 0.0) + sample.value
            elif group is not None and sample.group == group and sample.metric is Metric.LAG:
                partitions[sample.series] = sample.value

    def result(self) -> RoundSummary:
        for name in self._snapshot.group_states:
            self._totals.setdefault(name, 0.0)
        lean = replace(self._snapshot, samples=tuple(self._kept))
        return RoundSummary(lean, self._totals, self._drilled, self._partitions)


def summarize_round(snapshot: Snapshot, drilled: tuple[str, str] | None) -> RoundSummary:
    """The whole round at once (see `RoundSummarizer`)."""
    summarizer = RoundSummarizer(snapshot, drilled)
    summarizer.add(snapshot.samples)
    return summarizer.result()


def read_partition_history(
    store: MetricsStore, group: tuple[str, str], start: float, end: float
) -> dict[SeriesKey, tuple[np.ndarray, np.ndarray]]:
    """Each partition's lag of one (connection, group) in [start, end], from the store, as
    (times, values) arrays in time order."""
    connection, name = group
    found = {}
    for key in store.series(connection=connection):
        if key.group == name and key.partition is not None and key.metric is Metric.LAG:
            points = np.array(store.query(key, start, end), dtype=np.float64).reshape(-1, 2)
            found[key] = (points[:, 0], points[:, 1])
    return found


def read_chart_history(
    store: MetricsStore, connections: set[str], start: float, end: float
) -> dict[SeriesKey, list[tuple[float, float]]]:
    """What the charts show, from the store: each group's lag summed over its topics
    (as the live view sums it), and each DLQ's depth and inflow. Partitions are left
    out: drill-down fills them live."""
    found: dict[SeriesKey, list[tuple[float, float]]] = {}
    group_sums: dict[SeriesKey, dict[float, float]] = {}
    for key in store.series():
        if key.connection not in connections:
            continue
        if key.metric is Metric.LAG and key.group and key.endpoint and key.partition is None:
            sums = group_sums.setdefault(group_key(key.connection, key.group), {})
            for at, value in store.query(key, start, end):
                sums[at] = sums.get(at, 0.0) + value
        elif key.metric in _CHARTED and key.partition is None:
            found[key] = store.query(key, start, end)
    for key, sums in group_sums.items():
        found[key] = sorted(sums.items())
    return found


def endpoint_marks(
    snapshots: Iterable[Snapshot], evaluator: AlertEvaluator
) -> dict[tuple[str, str], EndpointMark]:
    """Per (connection, endpoint): the worst health of the groups consuming it, with each
    group's reason, and the alerts active on it."""
    health: dict[tuple[str, str], list[tuple[str, Health]]] = {}
    topics: dict[tuple[str, str], set[str]] = {}
    for snapshot in snapshots:
        for sample in snapshot.samples:
            if sample.metric is Metric.LAG and sample.group and sample.partition is None:
                topics.setdefault((snapshot.connection, sample.group), set()).add(sample.endpoint)
        for group, judged in snapshot.health.items():
            for topic in topics.get((snapshot.connection, group), ()):
                health.setdefault((snapshot.connection, topic), []).append((group, judged))
    alerts: dict[tuple[str, str], list[str]] = {}
    for active in evaluator.active():
        names = [active.endpoint] if active.endpoint else []
        names = names or sorted(topics.get((active.connection, active.group), ()))
        now = "" if active.value is None else f" (now {active.value:,.0f})"
        for name in names:
            alerts.setdefault((active.connection, name), []).append(active.rule.describe() + now)
    marks = {}
    for where in set(health) | set(alerts):
        groups = sorted(health.get(where, []), key=lambda g: -HEALTH_ORDER.index(g[1].state))
        marks[where] = EndpointMark(
            health=groups[0][1].state if groups else None,
            reason="\n".join(f"{g}: {h.state.value.upper()} — {h.reason}" for g, h in groups),
            alert="\n".join(alerts.get(where, [])),
        )
    return marks
