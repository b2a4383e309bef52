"""`eventdesk --demo` on screen: its DLQs fill up in the tree, and closing leaves nothing."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import shiboken6
from eventdesk.connectors.demo import PROFILE_NAME, DemoEnvironment
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.gui.app import open_demo_window
from eventdesk.gui.connection_tree_model import ConnectionState, Roles
from eventdesk.gui.demo_controller import DEMO_TITLE
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from .conftest import LoopDriver


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _depth(window, endpoint: str) -> int:
    index = window.tree_model.endpoint_index(PROFILE_NAME, endpoint)
    return (index.data(Roles.DEPTH) or 0) if index.isValid() else 0


def test_demo_window_shows_dead_letters_and_closes_without_a_trace(
    driver: LoopDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTDESK_CONFIG_DIR", str(tmp_path))
    demo = DemoEnvironment(orders_per_second=10)
    driver.run(demo.start())
    port = demo.port
    window = open_demo_window(demo, [])
    window.set_depth_refresh_interval(500)
    try:
        window.show()
        assert window.windowTitle() == DEMO_TITLE
        driver.until(
            lambda: window.tree_model.state(PROFILE_NAME) is ConnectionState.CONNECTED,
            timeout=30,
            message="the demo connection",
        )
        assert "orders-dlq" in window.tree.visible_endpoints(PROFILE_NAME)

        # No F5: the window re-reads depths by itself while the operator watches.
        driver.until(
            lambda: _depth(window, "orders-dlq") > 0,
            timeout=30,
            message="orders-dlq depth > 0 in the tree without a manual refresh",
        )

        # Adding a connection saves the window's connections: never the demo's own.
        window.add_connection(
            ConnectionProfile("Added", BrokerKind.KAFKA, {"bootstrap_servers": "127.0.0.1:1"})
        )
        assert [p.name for p in load_profiles()] == ["Added"]
        fix = window.findChild(QAction, "demo_fix_consumer")
        assert fix in window.menuBar().findChild(QMenu, "demo_menu").actions()
        fix.trigger()
        assert demo.consumer_fixed
    finally:
        window.close()
        driver.run(window.wait_closed())
        shiboken6.delete(window)
        driver.run(demo.close())
    assert not _port_open(port)
