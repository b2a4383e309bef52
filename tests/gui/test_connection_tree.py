"""ConnectionTreeWidget: DLQs marked and filtered, depths shown, connection states visible."""

from __future__ import annotations

import pytest
from eventdesk.connectors.model import BrokerKind, Endpoint, EndpointKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.gui.connection_tree import NO_CONNECTIONS_TEXT, ConnectionTreeWidget
from eventdesk.gui.connection_tree_model import ConnectionState, ConnectionTreeModel, Roles
from PySide6.QtCore import Qt

KAFKA = ConnectionProfile("local", BrokerKind.KAFKA, {"bootstrap_servers": "127.0.0.1:19092"})
ENDPOINTS = [
    Endpoint("orders", EndpointKind.TOPIC, depth=5000),
    Endpoint(
        "orders.DLT",
        EndpointKind.TOPIC,
        depth=1200,
        is_dead_letter=True,
        fed_by=("orders",),
        dead_letter_evidence="name ends in .DLT",
    ),
    Endpoint("payments", EndpointKind.TOPIC, depth=0),
    Endpoint("payments-dlq", EndpointKind.TOPIC, depth=0, is_dead_letter=True),
]


@pytest.fixture
def tree(qtbot) -> ConnectionTreeWidget:
    widget = ConnectionTreeWidget(ConnectionTreeModel())
    widget.resize(420, 500)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_empty_state_without_connections(tree: ConnectionTreeWidget):
    assert tree.empty_label.isVisible()
    assert tree.empty_label.text() == NO_CONNECTIONS_TEXT
    tree.model.add_connection(KAFKA)
    assert tree.view.isVisible()


def test_dead_letter_queues_only_by_default_when_there_are_any(tree: ConnectionTreeWidget):
    tree.model.add_connection(KAFKA)
    assert not tree.dead_letters_only.isChecked()

    tree.model.set_endpoints("local", ENDPOINTS)

    assert tree.dead_letters_only.isChecked()
    # DLQs first, and only they.
    assert tree.visible_endpoints("local") == ["orders.DLT", "payments-dlq"]
    tree.dead_letters_only.setChecked(False)
    assert tree.visible_endpoints("local") == ["orders.DLT", "payments-dlq", "orders", "payments"]


def test_the_operators_choice_survives_a_refresh(tree: ConnectionTreeWidget):
    tree.model.add_connection(KAFKA)
    tree.model.set_endpoints("local", ENDPOINTS)
    tree.dead_letters_only.setChecked(False)

    tree.model.set_endpoints("local", ENDPOINTS)

    assert not tree.dead_letters_only.isChecked()


def test_filter_box_narrows_by_name(tree: ConnectionTreeWidget):
    tree.model.add_connection(KAFKA)
    tree.model.set_endpoints("local", ENDPOINTS)
    tree.set_dead_letters_only(False)

    tree.filter_edit.setText("PAY")

    assert tree.visible_endpoints("local") == ["payments-dlq", "payments"]


def test_dlq_rows_carry_marks_depth_and_evidence(tree: ConnectionTreeWidget):
    tree.model.add_connection(KAFKA)
    tree.model.set_endpoints("local", ENDPOINTS)
    index = tree.model.endpoint_index("local", "orders.DLT")
    depth = index.siblingAtColumn(1)

    assert index.data(Roles.IS_DEAD_LETTER) is True
    assert index.data(Qt.ItemDataRole.FontRole).bold()
    assert depth.data() == "1,200"
    assert depth.data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    tooltip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "Dead-letter queue: name ends in .DLT" in tooltip
    assert "Fed by: orders" in tooltip
    assert "Messages: 1,200" in tooltip


def test_connection_state_and_hint_are_shown(tree: ConnectionTreeWidget):
    tree.model.add_connection(KAFKA)
    index = tree.model.connection_index("local")
    assert index.siblingAtColumn(1).data() == "connecting…"

    tree.model.set_state(
        "local", ConnectionState.ERROR, message="No broker at 127.0.0.1:19092", hint="Start it."
    )

    assert tree.model.state("local") is ConnectionState.ERROR
    assert index.siblingAtColumn(1).data() == "error"
    tooltip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "No broker at 127.0.0.1:19092" in tooltip
    assert "What to do: Start it." in tooltip


def test_refresh_updates_in_place_and_keeps_the_selection(tree: ConnectionTreeWidget):
    tree.model.add_connection(KAFKA)
    tree.model.set_endpoints("local", ENDPOINTS)
    picked: list[str] = []
    tree.endpoint_selected.connect(lambda _conn, endpoint: picked.append(endpoint.name))
    assert tree.select_endpoint("local", "orders.DLT")
    assert picked == ["orders.DLT"]

    deeper = [
        Endpoint(e.name, e.kind, depth=(e.depth or 0) + 1, is_dead_letter=e.is_dead_letter)
        for e in ENDPOINTS
        if e.name != "payments-dlq"
    ]
    tree.model.set_endpoints("local", deeper)

    current = tree.view.currentIndex()
    assert current.data() == "orders.DLT"
    assert current.siblingAtColumn(1).data() == "1,201"
    assert tree.visible_endpoints("local") == ["orders.DLT"]
    # Rows vanishing is not the operator picking something else.
    assert picked == ["orders.DLT"]
