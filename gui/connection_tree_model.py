"""Connections and their endpoints as a two-level item model (name | depth).

Endpoint rows are updated in place on refresh, so selection and expansion survive
an F5; only endpoints that appeared or vanished are inserted or removed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eventdesk.connectors.health import HealthState
from eventdesk.connectors.model import BrokerKind, Endpoint
from eventdesk.connectors.profiles import ConnectionProfile
from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap, QStandardItem, QStandardItemModel

from .display_format import count_text


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting…"
    CONNECTED = "connected"
    ERROR = "error"


class Roles(enum.IntEnum):
    ROW_KIND = Qt.ItemDataRole.UserRole + 1  # "connection" or "endpoint"
    CONNECTION = Qt.ItemDataRole.UserRole + 2  # connection name, on every row
    ENDPOINT = Qt.ItemDataRole.UserRole + 3  # Endpoint, on endpoint rows
    IS_DEAD_LETTER = Qt.ItemDataRole.UserRole + 4
    DEPTH = Qt.ItemDataRole.UserRole + 5  # int or None
    STATE = Qt.ItemDataRole.UserRole + 6  # ConnectionState, on connection rows
    # What the Monitor knows about an endpoint (see EndpointMark), on endpoint rows.
    HEALTH = Qt.ItemDataRole.UserRole + 20  # HealthState value (str) or None
    ALERT = Qt.ItemDataRole.UserRole + 21  # active alert titles, "" when none


CONNECTION_ROW = "connection"
ENDPOINT_ROW = "endpoint"
KIND_NAMES = {
    BrokerKind.KAFKA: "Kafka",
    BrokerKind.RABBITMQ: "RabbitMQ",
    BrokerKind.SQS: "SQS",
    BrokerKind.NATS: "NATS",
}
_STATE_COLORS = {
    ConnectionState.CONNECTING: "#9e9e9e",
    ConnectionState.CONNECTED: "#2e9d4f",
    ConnectionState.ERROR: "#d32f2f",
}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True, slots=True)
class EndpointMark:
    """The Monitor's word on an endpoint: the worst health of its groups, active alerts."""

    health: HealthState | None = None
    reason: str = ""  # one line per consumer group
    alert: str = ""  # active alert titles, one per line

    def tooltip_lines(self) -> list[str]:
        lines = []
        if self.health is not None:
            lines.append(f"Health: {self.health.value.upper()}")
            lines.extend(f"  {line}" for line in self.reason.splitlines())
        lines.extend(f"⚠ {line}" for line in self.alert.splitlines())
        return lines


_NO_MARK = EndpointMark()


def _dot_icon(color: str) -> QIcon:
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(8, 8, 16, 16)
    painter.end()
    return QIcon(pixmap)


def _profile_summary(profile: ConnectionProfile) -> str:
    where = {
        BrokerKind.KAFKA: profile.get("bootstrap_servers"),
        BrokerKind.RABBITMQ: f"{profile.get('host', '127.0.0.1')}:{profile.get('port', '5672')}"
        f" vhost {profile.get('vhost', '/')}",
        BrokerKind.SQS: profile.get("endpoint_url") or profile.get("region", "us-east-1"),
        BrokerKind.NATS: profile.get("servers"),
    }[profile.kind]
    return f"{KIND_NAMES[profile.kind]} · {where}"


def endpoint_tooltip(endpoint: Endpoint, kind: BrokerKind | None) -> str:
    noun = endpoint.kind.value if kind is None else f"{KIND_NAMES[kind]} {endpoint.kind.value}"
    lines = [f"{endpoint.name} — {noun}"]
    if endpoint.is_dead_letter:
        lines.append(f"Dead-letter queue: {endpoint.dead_letter_evidence or 'yes'}")
    if endpoint.fed_by:
        lines.append(f"Fed by: {', '.join(endpoint.fed_by)}")
    if endpoint.depth is not None:
        lines.append(f"Messages: {endpoint.depth:,}")
    lines.extend(f"{key}: {value}" for key, value in endpoint.details.items())
    return "\n".join(lines)


class ConnectionTreeModel(QStandardItemModel):
    # A connection's endpoint list arrived for the first time (views expand it then).
    endpoints_first_loaded = Signal(str)
    # Connections or endpoints were added, removed or updated (once per batch, not per cell).
    contents_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Endpoint", "Messages"])
        self.setHeaderData(1, Qt.Orientation.Horizontal, _RIGHT, Qt.ItemDataRole.TextAlignmentRole)
        self._icons = {state: _dot_icon(color) for state, color in _STATE_COLORS.items()}
        self._kinds: dict[str, BrokerKind] = {}
        self._loaded: set[str] = set()
        self._marks: dict[tuple[str, str], EndpointMark] = {}

    # -- connections ------------------------------------------------------------------

    def connection_names(self) -> list[str]:
        return [self.item(row, 0).data(Roles.CONNECTION) for row in range(self.rowCount())]

    def add_connection(self, profile: ConnectionProfile) -> None:
        if profile.name in self._kinds:
            return
        self._kinds[profile.name] = profile.kind
        name_item = QStandardItem(profile.name)
        name_item.setEditable(False)
        name_item.setData(CONNECTION_ROW, Roles.ROW_KIND)
        name_item.setData(profile.name, Roles.CONNECTION)
        name_item.setData(_profile_summary(profile), Qt.ItemDataRole.StatusTipRole)
        font = name_item.font()
        font.setBold(True)
        name_item.setFont(font)
        state_item = QStandardItem()
        state_item.setEditable(False)
        state_item.setData(CONNECTION_ROW, Roles.ROW_KIND)
        state_item.setData(profile.name, Roles.CONNECTION)
        state_item.setTextAlignment(_RIGHT)
        self.appendRow([name_item, state_item])
        self.set_state(profile.name, ConnectionState.CONNECTING)
        self.contents_changed.emit()

    def remove_connection(self, name: str) -> None:
        row = self._connection_row(name)
        if row is not None:
            self.removeRow(row)
        self._kinds.pop(name, None)
        self._loaded.discard(name)
        self.contents_changed.emit()

    def connection_index(self, name: str) -> QModelIndex:
        row = self._connection_row(name)
        return QModelIndex() if row is None else self.index(row, 0)

    def state(self, name: str) -> ConnectionState | None:
        item = self._connection_item(name)
        value = None if item is None else item.data(Roles.STATE)
        # Qt hands str subclasses back as plain str.
        return None if value is None else ConnectionState(value)

    def set_state(
        self, name: str, state: ConnectionState, *, message: str = "", hint: str = ""
    ) -> None:
        item = self._connection_item(name)
        if item is None:
            return
        row = item.row()
        state_item = self.item(row, 1)
        item.setData(state, Roles.STATE)
        item.setIcon(self._icons[state])
        summary = item.data(Qt.ItemDataRole.StatusTipRole)
        lines = [f"{item.text()} — {summary}", f"State: {state.value}"]
        if message:
            lines.append(message)
        if hint:
            lines.append(f"What to do: {hint}")
        tooltip = "\n".join(lines)
        item.setToolTip(tooltip)
        state_item.setToolTip(tooltip)
        state_item.setData(state, Roles.STATE)
        state_item.setText("" if state is ConnectionState.CONNECTED else state.value)
        state_item.setForeground(QColor(_STATE_COLORS[state]))

    # -- endpoints --------------------------------------------------------------------

    def set_endpoints(self, name: str, endpoints: Sequence[Endpoint]) -> None:
        parent = self._connection_item(name)
        if parent is None:
            return
        # Dead-letter queues first: they are why the operator is here.
        ordered = sorted(endpoints, key=lambda e: (not e.is_dead_letter, e.name.lower()))
        wanted = {e.name for e in ordered}
        for row in reversed(range(parent.rowCount())):
            if parent.child(row, 0).data(Roles.ENDPOINT).name not in wanted:
                parent.removeRow(row)
        existing = {
            parent.child(row, 0).data(Roles.ENDPOINT).name: row for row in range(parent.rowCount())
        }
        current_order = [
            parent.child(row, 0).data(Roles.ENDPOINT).name for row in range(parent.rowCount())
        ]
        if current_order != [e.name for e in ordered if e.name in existing]:
            # Rare (a DLQ became a plain queue): rebuilding beats shuffling rows.
            parent.removeRows(0, parent.rowCount())
            existing = {}
        for position, endpoint in enumerate(ordered):
            row = existing.get(endpoint.name)
            if row is None:
                parent.insertRow(position, self._endpoint_row(name, endpoint))
            else:
                self._update_endpoint_row(parent, row, endpoint)
        self.contents_changed.emit()
        if name not in self._loaded:
            self._loaded.add(name)
            self.endpoints_first_loaded.emit(name)

    def endpoints(self, name: str) -> list[Endpoint]:
        parent = self._connection_item(name)
        if parent is None:
            return []
        return [parent.child(row, 0).data(Roles.ENDPOINT) for row in range(parent.rowCount())]

    def endpoint_index(self, connection: str, endpoint: str) -> QModelIndex:
        parent = self._connection_item(connection)
        if parent is not None:
            for row in range(parent.rowCount()):
                child = parent.child(row, 0)
                if child.data(Roles.ENDPOINT).name == endpoint:
                    return child.index()
        return QModelIndex()

    def set_depth(self, connection: str, endpoint: str, depth: int) -> None:
        index = self.endpoint_index(connection, endpoint)
        if not index.isValid():
            return
        parent = self.itemFromIndex(index.parent())
        old: Endpoint = self.itemFromIndex(index).data(Roles.ENDPOINT)
        self._update_endpoint_row(parent, index.row(), _with_depth(old, depth))

    def set_endpoint_marks(self, marks: Mapping[tuple[str, str], EndpointMark]) -> None:
        """Health and alerts per (connection, endpoint); rows not named lose theirs."""
        old, self._marks = self._marks, dict(marks)
        for connection, endpoint in set(old) | set(self._marks):
            if old.get((connection, endpoint)) == self._marks.get((connection, endpoint)):
                continue
            index = self.endpoint_index(connection, endpoint)
            if index.isValid():
                parent = self.itemFromIndex(index.parent())
                self._update_endpoint_row(parent, index.row(), index.data(Roles.ENDPOINT))

    def endpoint_mark(self, connection: str, endpoint: str) -> EndpointMark:
        return self._marks.get((connection, endpoint), _NO_MARK)

    def has_dead_letters(self) -> bool:
        return any(e.is_dead_letter for name in self._kinds for e in self.endpoints(name))

    def _endpoint_row(self, connection: str, endpoint: Endpoint) -> list[QStandardItem]:
        name_item = QStandardItem()
        depth_item = QStandardItem()
        for item in (name_item, depth_item):
            item.setEditable(False)
            item.setData(ENDPOINT_ROW, Roles.ROW_KIND)
            item.setData(connection, Roles.CONNECTION)
        depth_item.setTextAlignment(_RIGHT)
        self._fill_endpoint(connection, name_item, depth_item, endpoint)
        return [name_item, depth_item]

    def _update_endpoint_row(self, parent: QStandardItem, row: int, endpoint: Endpoint) -> None:
        connection = parent.data(Roles.CONNECTION)
        self._fill_endpoint(connection, parent.child(row, 0), parent.child(row, 1), endpoint)

    def _fill_endpoint(
        self,
        connection: str,
        name_item: QStandardItem,
        depth_item: QStandardItem,
        endpoint: Endpoint,
    ) -> None:
        mark = self._marks.get((connection, endpoint.name), _NO_MARK)
        tooltip = "\n".join(
            [endpoint_tooltip(endpoint, self._kinds.get(connection)), *mark.tooltip_lines()]
        )
        name_item.setText(endpoint.name)
        font = QFont(name_item.font())
        font.setBold(endpoint.is_dead_letter)
        name_item.setFont(font)
        for item in (name_item, depth_item):
            item.setData(endpoint, Roles.ENDPOINT)
            item.setData(endpoint.is_dead_letter, Roles.IS_DEAD_LETTER)
            item.setData(endpoint.depth, Roles.DEPTH)
            item.setData(None if mark.health is None else mark.health.value, Roles.HEALTH)
            item.setData(mark.alert, Roles.ALERT)
            item.setToolTip(tooltip)
        depth_item.setText(count_text(endpoint.depth))

    def _connection_row(self, name: str) -> int | None:
        for row in range(self.rowCount()):
            if self.item(row, 0).data(Roles.CONNECTION) == name:
                return row
        return None

    def _connection_item(self, name: str) -> QStandardItem | None:
        row = self._connection_row(name)
        return None if row is None else self.item(row, 0)


def _with_depth(endpoint: Endpoint, depth: int) -> Endpoint:
    return Endpoint(
        name=endpoint.name,
        kind=endpoint.kind,
        depth=depth,
        is_dead_letter=endpoint.is_dead_letter,
        fed_by=endpoint.fed_by,
        dead_letter_evidence=endpoint.dead_letter_evidence,
        details=endpoint.details,
    )
