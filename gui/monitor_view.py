"""The Monitor view: consumer lag and DLQ depth charted live, group health, latest values.

It owns a `Sampler` over the window's connections (its own connectors, never the
browsing ones) and observes its snapshots: samples go into chart buffers and the
metrics store; the charts redraw on their own timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Mapping

from eventdesk.connectors.health import Health, HealthState
from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.sampling import (
    ConnectorFactory,
    Metric,
    Sampler,
    SeriesKey,
    Snapshot,
)
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .lag_chart_widget import LagChartWidget
from .operations import AsyncOp, TaskOwner, report_failure

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
WINDOW_PRESETS = (("5 min", 300.0), ("1 h", 3600.0), ("24 h", 86400.0))
HEALTH_COLORS = {
    HealthState.OK: "#2e9d4f",
    HealthState.WARNING: "#e0a800",
    HealthState.STALLED: "#e8590c",
    HealthState.STOPPED: "#6c757d",
    HealthState.ERROR: "#d32f2f",
}
_GREY = QColor("#9e9e9e")
_ROOT = QModelIndex()

FactoriesProvider = Callable[[], Mapping[str, ConnectorFactory]]


def group_key(connection: str, group: str) -> SeriesKey:
    """A group's lag summed over its topics and partitions (endpoint "" = every topic)."""
    return SeriesKey(connection, "", group, None, Metric.LAG)


def _series_label(key: Hashable) -> str:
    assert isinstance(key, SeriesKey)
    if key.metric is Metric.DLQ_DEPTH:
        return f"{key.endpoint} ({key.connection})"
    if key.partition is not None:
        return f"{key.endpoint}[{key.partition}]"
    return f"{key.group} ({key.connection})"


class SeriesTableModel(QAbstractTableModel):
    """Every watched series with its latest value; rows appended in batches by `flush`."""

    HEADERS = ("Connection", "Endpoint", "Group", "Partition", "Metric", "Latest", "At")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._keys: list[SeriesKey] = []
        self._rows: dict[SeriesKey, int] = {}
        self._values: dict[SeriesKey, tuple[float, float]] = {}
        self._pending: dict[SeriesKey, tuple[float, float]] = {}
        self._stale: set[str] = set()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._keys)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> object:
        if not index.isValid():
            return None
        key = self._keys[index.row()]
        if role == Qt.ItemDataRole.ForegroundRole and key.connection in self._stale:
            return QBrush(_GREY)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (3, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        at, value = self._values[key]
        column = index.column()
        if column == 0:
            return key.connection
        if column == 1:
            return key.endpoint or "(all topics)"
        if column == 2:
            return key.group
        if column == 3:
            return "" if key.partition is None else str(key.partition)
        if column == 4:
            return key.metric.value
        if column == 5:
            return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
        return time.strftime("%H:%M:%S", time.localtime(at))

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
        if new:
            first = len(self._keys)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for key in new:
                self._rows[key] = len(self._keys)
                self._keys.append(key)
            self.endInsertRows()
        if self._keys:
            self.dataChanged.emit(self.index(0, 5), self.index(len(self._keys) - 1, 6))


class MonitorView(QWidget, TaskOwner):
    """Live lag and DLQ depth per connection, sampled while the view runs."""

    def __init__(
        self,
        factories: FactoriesProvider,
        *,
        store: MetricsStore | None = None,
        open_store: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._factories = factories
        self._store = store
        self._open_store = open_store and store is None
        self._owns_store = False
        self.sampler: Sampler | None = None
        self._started = False
        self._latest: dict[str, Snapshot] = {}
        self._unreachable_since: dict[str, float] = {}
        self._groups: list[tuple[str, str]] = []
        self._selected_group: tuple[str, str] | None = None
        self._partitions: dict[tuple[str, str], list[SeriesKey]] = {}
        self._dlqs: list[SeriesKey] = []
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
        self.window_buttons.idClicked.connect(self._on_window_buttons_id_clicked)
        controls.addSpacing(12)
        controls.addWidget(self.pause_button)
        controls.addStretch(1)
        self.status_label = QLabel("Not sampling yet.", self)
        controls.addWidget(self.status_label)

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

        self.lag_chart = LagChartWidget("Consumer group lag", label=_series_label, parent=self)
        self.dlq_chart = LagChartWidget("Dead-letter depth", label=_series_label, parent=self)

        self.series_model = SeriesTableModel(self)
        self.series_table = QTableView(self)
        self.series_table.setModel(self.series_model)
        self.series_table.verticalHeader().hide()
        self.series_table.verticalHeader().setDefaultSectionSize(20)
        self.series_table.horizontalHeader().setStretchLastSection(True)
        self.series_table.setAlternatingRowColors(True)
        self.series_table.setWordWrap(False)
        self.series_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.groups_table, 1)
        left_layout.addWidget(self.groups_hint)
        charts = QSplitter(Qt.Orientation.Vertical, self)
        charts.addWidget(self.lag_chart)
        charts.addWidget(self.dlq_chart)
        charts.addWidget(self.series_table)
        charts.setSizes([420, 220, 160])
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
        if self._open_store and self._store is None:
            try:
                self._store = MetricsStore()
                self._owns_store = True
            except Exception as exc:
                report_failure(self, exc, context="Opening the metrics history")
        self._restart()

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
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    # -- snapshots ---------------------------------------------------------------------

    async def _on_sampler_snapshot(self, snapshot: Snapshot) -> None:
        if self.sampler is None:
            return
        self._apply(snapshot)
        if not snapshot.stale and snapshot.samples and self._store is not None:
            try:
                await asyncio.to_thread(self._store.add, snapshot.samples)
            except Exception as exc:
                log.warning("Storing samples failed: %s", exc)

    def _apply(self, snapshot: Snapshot) -> None:
        """Observe one round: buffers, latest values, health, reachability."""
        self.snapshots_seen += 1
        name = snapshot.connection
        self._latest[name] = snapshot
        if snapshot.stale:
            self._unreachable_since.setdefault(name, snapshot.at)
        else:
            self._unreachable_since.pop(name, None)
            group_totals: dict[str, float] = {}
            for sample in snapshot.samples:
                key = sample.series
                self.series_model.update(key, sample.at, sample.value)
                if sample.metric is Metric.LAG and sample.group is not None:
                    if sample.partition is None:
                        group_totals[sample.group] = (
                            group_totals.get(sample.group, 0.0) + sample.value
                        )
                    else:
                        self.lag_chart.append(key, snapshot.at, sample.value)
                        parts = self._partitions.setdefault((name, sample.group), [])
                        if key not in parts:
                            parts.append(key)
                elif sample.metric is Metric.DLQ_DEPTH:
                    self.dlq_chart.append(key, snapshot.at, sample.value)
                    if key not in self._dlqs:
                        self._dlqs.append(key)
            for group in snapshot.group_states:
                group_totals.setdefault(group, 0.0)
            for group, lag in group_totals.items():
                key = group_key(name, group)
                self.lag_chart.append(key, snapshot.at, lag)
                self.series_model.update(key, snapshot.at, lag)
                if (name, group) not in self._groups:
                    self._groups.append((name, group))
        self._update_groups_table()
        self._update_shown()
        self._update_unreachable()

    def _update_shown(self) -> None:
        if self._selected_group is not None:
            keys = sorted(
                self._partitions.get(self._selected_group, []),
                key=lambda k: (k.endpoint, k.partition),
            )
        else:
            keys = [group_key(c, g) for c, g in self._groups]
        self.lag_chart.show_keys(keys)
        self.dlq_chart.show_keys(self._dlqs)

    def _update_unreachable(self) -> None:
        stale = set(self._unreachable_since)
        self.series_model.set_stale_connections(stale)
        self.lag_chart.set_stale(k for k in self.lag_chart.keys() if k.connection in stale)
        self.dlq_chart.set_stale(k for k in self.dlq_chart.keys() if k.connection in stale)
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
        for row, (connection, group) in enumerate(self._groups):
            snapshot = self._latest.get(connection)
            stale = snapshot is None or snapshot.stale
            health = self.health(connection, group)
            if health is None and stale:
                health = Health(HealthState.ERROR, "The broker cannot be reached.")
            state = health.state if health is not None else HealthState.OK
            reason = health.reason if health is not None else "No judgement yet."
            buffer = self.lag_chart.buffer(group_key(connection, group))
            lag = buffer.last() if buffer is not None else None
            name_item = table.item(row, 0) or QTableWidgetItem()
            name_item.setText(f"{group}  ·  {connection}")
            name_item.setToolTip(f"{group} on {connection}")
            badge = table.item(row, 1) or QTableWidgetItem()
            badge.setText(f"● {state.value.upper()}")
            badge.setForeground(QBrush(QColor(HEALTH_COLORS[state])))
            badge.setToolTip(reason)
            lag_item = table.item(row, 2) or QTableWidgetItem()
            lag_item.setText("" if lag is None else f"{lag:,.0f}")
            lag_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate((name_item, badge, lag_item)):
                if column != 1:
                    item.setForeground(QBrush(_GREY if stale else table.palette().text()))
                if table.item(row, column) is None:
                    table.setItem(row, column, item)

    # -- handlers ----------------------------------------------------------------------

    def _on_interval_spin_value_changed(self, seconds: float) -> None:
        if self.sampler is not None:
            self.sampler.set_interval(seconds)

    def _on_pause_button_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.lag_chart.set_paused(paused)
        self.dlq_chart.set_paused(paused)

    def _on_window_buttons_id_clicked(self, index: int) -> None:
        seconds = WINDOW_PRESETS[index][1]
        self.lag_chart.set_window(seconds)
        self.dlq_chart.set_window(seconds)

    def _on_groups_table_selection_changed(self) -> None:
        rows = {index.row() for index in self.groups_table.selectedIndexes()}
        self._selected_group = self._groups[min(rows)] if rows else None
        self.groups_hint.setText(
            "Select a group to see its partitions."
            if self._selected_group is None
            else f"Partitions of {self._selected_group[1]}; clear the selection for all groups."
        )
        self._update_shown()

    def select_group(self, connection: str, group: str | None) -> None:
        if group is None:
            self.groups_table.clearSelection()
            return
        self.groups_table.selectRow(self._groups.index((connection, group)))
