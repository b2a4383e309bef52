"""`eventdesk --demo` on screen: its DLQs fill up in the tree, and closing leaves nothing."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from eventdesk.connectors.demo import PROFILE_NAME, DemoEnvironment
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.gui.app import open_demo_window
from eventdesk.gui.connection_tree_model import ConnectionState, Roles
from eventdesk.gui.demo_controller import DEMO_TITLE
from eventdesk.gui.main_window import MainWindow
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from tests.seed.sqs import queue_counts

from .conftest import LoopDriver


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _depth(window, endpoint: str) -> int:
    index = window.tree_model.endpoint_index(PROFILE_NAME, endpoint)
    return (index.data(Roles.DEPTH) or 0) if index.isValid() else 0


@contextlib.contextmanager
def _demo_window(driver: LoopDriver) -> Iterator[tuple[DemoEnvironment, MainWindow]]:
    """A started demo and its window, shown and connected; both closed after, port and all."""
    demo = DemoEnvironment(orders_per_second=10, local_brokers=False)
    driver.run(demo.start())
    port = demo.port
    window = open_demo_window(demo, [])
    window.set_depth_refresh_interval(500)
    try:
        window.show()
        driver.until(
            lambda: window.tree_model.state(PROFILE_NAME) is ConnectionState.CONNECTED,
            timeout=30,
            message="the demo connection",
        )
        yield demo, window
    finally:
        window.close()
        driver.run(window.wait_closed())
        shiboken6.delete(window)
        driver.run(demo.close())
    assert not _port_open(port)


def test_demo_window_shows_dead_letters_and_closes_without_a_trace(
    driver: LoopDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTDESK_CONFIG_DIR", str(tmp_path))
    with _demo_window(driver) as (demo, window):
        assert window.windowTitle() == DEMO_TITLE
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


def _dlq_counts(demo: DemoEnvironment, queue: str) -> tuple[int, int]:
    return queue_counts(demo._sqs, demo.urls[queue])


def test_replay_through_the_window_drains_the_demo_dlq_once_the_consumer_is_fixed(
    driver: LoopDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("EVENTDESK_DATA_DIR", str(tmp_path / "data"))
    threads_before = {t.ident for t in threading.enumerate()}
    with _demo_window(driver) as (demo, window):
        driver.until(
            lambda: _dlq_counts(demo, "orders-dlq")[0] >= 3,
            timeout=30,
            message="dead letters in orders-dlq within 30 s",
        )
        window.findChild(QAction, "demo_fix_consumer").trigger()
        # What was still failing when fixed may reach the DLQ a moment later: wait until
        # nothing is in flight on the orders queue's retries.
        driver.run(asyncio.sleep(3), timeout=10)

        assert window.open_endpoint_named(PROFILE_NAME, "orders-dlq")
        model = window.browser.model
        driver.until(lambda: model.loaded_count > 0 and not model.is_loading, timeout=30)
        window.browser.model.load_all()
        driver.until(lambda: not model.has_more and not model.is_loading, timeout=30)
        chosen = model.loaded_count
        window.browser.select_rows(list(range(chosen)))
        window.replay_action.trigger()
        wizard = window.replay_wizard
        assert wizard is not None
        assert "orders" in wizard.target_page.original_radio.text()
        for _page in ("target", "options", "preview", "confirm", "progress"):
            wizard.next()
        assert wizard.currentId() == wizard.PROGRESS
        driver.wait_signal(wizard.finished_replay, timeout=60)
        result = wizard.result
        assert result is not None and result.ok, result
        assert result.succeeded == chosen
        wizard.accept()

        driver.until(
            lambda: _dlq_counts(demo, "orders-dlq") == (0, 0),
            timeout=30,
            message="orders-dlq drained",
        )
        driver.until(
            lambda: _depth(window, "orders-dlq") == 0,
            timeout=30,
            message="the tree to show orders-dlq empty",
        )
    left = [
        t.name
        for t in threading.enumerate()
        if t.ident not in threads_before and t.name.startswith("eventdesk-demo")
    ]
    assert left == []
