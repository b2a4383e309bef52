"""MainWindow logic with stand-in connectors: failures mid-browse, saving, closing.

The real-broker flows live in test_main_window_brokers.py; here a connector is faked
only to make a broker vanish on cue, which a live broker cannot do on demand.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shiboken6
from eventdesk.connectors.base import Browser, Connector
from eventdesk.connectors.errors import ConnectionLost
from eventdesk.connectors.model import BrokerKind, Endpoint, EndpointKind
from eventdesk.connectors.profiles import ConnectionProfile, load_profiles
from eventdesk.gui import main_window as main_window_module
from eventdesk.gui.connection_tree import NO_CONNECTIONS_TEXT
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import PICK_ENDPOINT_TEXT, MainWindow
from PySide6.QtCore import QModelIndex

from .conftest import LoopDriver
from .fakes import ListBrowser, dead_letter

DLQ = Endpoint(
    "orders.DLT", EndpointKind.TOPIC, depth=1200, is_dead_letter=True, fed_by=("orders",)
)


class FakeConnector(Connector):
    kind = BrokerKind.KAFKA
    # Set by a test to make the link drop while that page is read.
    fail_on_page: int | None = None

    def __init__(self) -> None:
        self.connects = 0
        self.closed = False
        self.browsers: list[ListBrowser] = []

    async def connect(self, *, timeout: float = 10.0) -> None:
        self.connects += 1
        self.closed = False

    async def close(self) -> None:
        self.closed = True

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        return [DLQ, Endpoint("orders", EndpointKind.TOPIC, depth=100)]

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        return 8

    def browse(self, endpoint: str, *, page_size: int = 500) -> Browser:
        # A first page that fills the view, so the view itself does not ask for more.
        browser = ListBrowser(
            [dead_letter(n) for n in range(1200)],
            page_size=page_size,
            fail_on_page=self.fail_on_page,
            failure=ConnectionLost("The connection to 127.0.0.1:19092 dropped."),
        )
        self.browsers.append(browser)
        return browser


PROFILE = ConnectionProfile("local", BrokerKind.KAFKA, {"bootstrap_servers": "127.0.0.1:9"})


@pytest.fixture
def connectors(monkeypatch: pytest.MonkeyPatch) -> list[FakeConnector]:
    made: list[FakeConnector] = []

    def create(profile: ConnectionProfile, *, prompt=None) -> Connector:
        made.append(FakeConnector())
        return made[-1]

    monkeypatch.setattr(main_window_module, "create_connector", create)
    return made


@pytest.fixture
def window(driver: LoopDriver, connectors) -> Iterator[MainWindow]:
    win = MainWindow([PROFILE])
    win.show()
    driver.until(lambda: win.tree_model.state("local") is ConnectionState.CONNECTED)
    yield win
    win.close()
    driver.run(win.wait_closed())
    shiboken6.delete(win)


def test_empty_states_guide_the_operator(driver: LoopDriver):
    empty = MainWindow([])
    empty.show()
    try:
        assert empty.content_empty.text() == NO_CONNECTIONS_TEXT
        assert empty.tree.empty_label.isVisible()
    finally:
        empty.close()
        driver.run(empty.wait_closed())


def test_picking_an_endpoint_shows_its_messages_and_the_note(
    driver: LoopDriver, window: MainWindow
):
    assert window.content_empty.text() == PICK_ENDPOINT_TEXT
    assert window.tree.visible_endpoints("local") == ["orders.DLT"]

    assert window.open_endpoint_named("local", "orders.DLT")
    driver.until(lambda: window.browser.model.rowCount() == 500)

    assert window.content_stack.currentWidget() is window.right_splitter
    assert window.browser.title_label.text() == "orders.DLT"
    assert "fed by orders" in window.browser.subtitle_label.text()
    assert window.browser.note_label.text() == "Fake: nothing is held."
    assert window.browser.count_label.text() == "500 of 1,200 loaded"
    assert window.rows_label.text() == "500 of 1,200 loaded"
    assert window.detail.stack.currentWidget() is window.detail.empty
    window.browser.select_row(3)
    assert window.detail.message.id == "0:3"


def test_a_broker_vanishing_mid_browse_shows_the_hint_and_keeps_working(
    driver: LoopDriver,
    window: MainWindow,
    connectors: list[FakeConnector],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(FakeConnector, "fail_on_page", 2)
    window.open_endpoint_named("local", "orders.DLT")
    model = window.browser.model
    driver.until(lambda: model.rowCount() == 500)

    model.fetchMore(QModelIndex())
    driver.until(lambda: model.failed, message="the dropped link")

    banner = window.browser.error_label
    assert banner.isVisible()
    assert "The connection to 127.0.0.1:19092 dropped." in banner.text()
    assert ConnectionLost.hint in banner.text()
    assert window.tree_model.state("local") is ConnectionState.ERROR
    assert ConnectionLost.hint in window.statusBar().currentMessage()
    assert model.rowCount() == 500  # what was loaded stays readable
    window.browser.select_row(1)
    assert window.detail.message.id == "0:1"

    # F5 reconnects and reopens the endpoint on the new link.
    monkeypatch.setattr(FakeConnector, "fail_on_page", None)
    window.refresh_action.trigger()
    driver.until(lambda: window.tree_model.state("local") is ConnectionState.CONNECTED)
    assert len(connectors) == 2
    driver.until(lambda: connectors[0].browsers[0].closed and connectors[0].closed)
    driver.until(lambda: len(connectors[1].browsers) == 1 and model.rowCount() == 500)
    assert window.open_endpoint == ("local", "orders.DLT")
    assert not banner.isVisible()
    window.browser.load_more_action.trigger()
    driver.until(lambda: model.rowCount() == 1000)


def test_switching_endpoints_closes_the_previous_browser(
    driver: LoopDriver, window: MainWindow, connectors: list[FakeConnector]
):
    window.tree.set_dead_letters_only(False)
    window.open_endpoint_named("local", "orders.DLT")
    driver.until(lambda: window.browser.model.rowCount() == 500)

    window.open_endpoint_named("local", "orders")
    driver.until(lambda: connectors[0].browsers[0].closed)

    assert window.open_endpoint == ("local", "orders")


def test_closing_closes_browsers_and_connectors(
    driver: LoopDriver, connectors: list[FakeConnector]
):
    win = MainWindow([PROFILE])
    win.show()
    driver.until(lambda: win.tree_model.state("local") is ConnectionState.CONNECTED)
    win.open_endpoint_named("local", "orders.DLT")
    driver.until(lambda: win.browser.model.rowCount() == 500)

    win.close()
    driver.run(win.wait_closed())

    assert connectors[0].browsers[0].closed
    assert connectors[0].closed
    assert win.owned_tasks() == frozenset()


def test_a_new_connection_is_saved_without_secrets_and_connected(
    driver: LoopDriver, window: MainWindow, connectors: list[FakeConnector]
):
    rabbit = ConnectionProfile(
        "rabbit", BrokerKind.RABBITMQ, {"host": "127.0.0.1", "password_env": "RABBIT_PASSWORD"}
    )

    window.add_connection(rabbit)
    driver.until(lambda: window.tree_model.state("rabbit") is ConnectionState.CONNECTED)

    assert [p.name for p in load_profiles()] == ["local", "rabbit"]
    assert load_profiles()[1].settings == rabbit.settings
    assert len(connectors) == 2
