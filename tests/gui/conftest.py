"""Qt on a qasync loop for GUI tests.

pytest-qt has no qasync integration, and qasync's tasks need their loop to be
*running* (aiokafka and aio-pika call get_running_loop): so scenarios run inside
`driver.run(...)` / `driver.until(...)`, which spin the qasync loop (and with it
Qt's event loop) until a condition holds. Never mixed with pytest-asyncio's loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import boto3
import pytest
import shiboken6
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.secrets import SecretStore
from eventdesk.gui.connection_dialog import ConnectionDialog
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow

from tests.seed.kafka import delete_topics
from tests.seed.rabbitmq import remove_seed, seed_rabbitmq

from .fakes import DictKeyring

# Before anything imports Qt: no display here, and none in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc
from collections.abc import Awaitable
from typing import Any, TypeVar

import eventdesk.gui  # noqa: F401  (applies the PySide6/Python 3.11 refcount guard)
import qasync
from eventdesk.gui.garbage_collector import GuiThreadGarbageCollector
from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QApplication

T = TypeVar("T")


class LoopDriver:
    """Runs the qasync loop for a test until something happens, or fails on timeout."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, awaitable: Awaitable[T], *, timeout: float = 30.0) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    def until(
        self, predicate: Callable[[], bool], *, timeout: float = 10.0, message: str = ""
    ) -> None:
        """Like qtbot.waitUntil, with the asyncio side running too."""

        async def poll() -> None:
            # The predicate reads Qt state, which has no asyncio.Event to wait on.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        try:
            self.run(poll(), timeout=timeout)
        except TimeoutError:
            pytest.fail(f"timed out after {timeout} s waiting for {message or predicate}")

    def wait_signal(self, signal: SignalInstance, *, timeout: float = 10.0) -> tuple[Any, ...]:
        """Like qtbot.waitSignal: runs the loop until `signal` fires; returns its arguments."""
        future: asyncio.Future[tuple[Any, ...]] = self.loop.create_future()

        def fired(*args: Any) -> None:
            if not future.done():
                future.set_result(args)

        signal.connect(fired)
        try:
            return self.run(future, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"timed out after {timeout} s waiting for {signal}")
        finally:
            signal.disconnect(fired)

    def settle(self) -> None:
        """One short turn of the loop: lets queued callbacks and paints run."""
        self.run(asyncio.sleep(0.05))


class DrivenEventLoop(qasync.QEventLoop):
    """A qasync loop that asyncio keeps seeing as this thread's loop between runs.

    qasync's run_until_complete ends with one more processEvents() *after* clearing
    the running loop, and pytest-qt processes events outside any run too: a task woken
    there would find no running loop (aiokafka, asyncio.wait_for and friends need it).
    """

    def run_forever(self) -> None:
        try:
            super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread(qapp: QApplication) -> Iterator[None]:
    """As in the app: the cyclic collector runs on this thread only (see garbage_collector).

    Otherwise it may run on a worker thread (boto3 runs in some) and destroy widgets
    there, which crashes Qt.
    """
    collector = GuiThreadGarbageCollector()
    collector.start()
    yield
    collector.stop()
    gc.collect()
    shiboken6.delete(collector)


@pytest.fixture
def driver(qapp: QApplication) -> Iterator[LoopDriver]:
    loop = DrivenEventLoop(qapp)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    try:
        yield LoopDriver(loop)
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.events._set_running_loop(None)
        loop.close()
        asyncio.set_event_loop(None)


# --- Windows against the real local brokers (shared by the *_brokers and replay tests) ---

PASSWORD_ENV = "EVENTDESK_TEST_RABBITMQ_PASSWORD"


@pytest.fixture
def kafka_profile(kafka_bootstrap: str) -> ConnectionProfile:
    return ConnectionProfile("Kafka", BrokerKind.KAFKA, {"bootstrap_servers": kafka_bootstrap})


@pytest.fixture
def rabbitmq_profile(rabbitmq, monkeypatch: pytest.MonkeyPatch) -> ConnectionProfile:
    monkeypatch.setenv(PASSWORD_ENV, rabbitmq.password)
    return ConnectionProfile(
        "RabbitMQ",
        BrokerKind.RABBITMQ,
        {
            "host": rabbitmq.host,
            "port": str(rabbitmq.port),
            "username": rabbitmq.username,
            "management_url": rabbitmq.management_url,
            "password_env": PASSWORD_ENV,
        },
    )


@pytest.fixture
def sqs_profile(sqs) -> ConnectionProfile:
    return ConnectionProfile(
        "SQS", BrokerKind.SQS, {"region": sqs.region, "endpoint_url": sqs.endpoint_url}
    )


@pytest.fixture
def open_window(driver: LoopDriver) -> Iterator[Callable[..., MainWindow]]:
    """Opens MainWindows and, at the end, closes them the way the app does.

    Not qtbot.addWidget: pytest-qt would close them outside the running loop, and
    closing must await the browsers' give-back.
    """
    windows: list[MainWindow] = []

    def open_(*profiles: ConnectionProfile, **kwargs) -> MainWindow:
        window = MainWindow(profiles, **kwargs)
        windows.append(window)
        window.show()
        driver.until(
            lambda: all(
                window.tree_model.state(p.name) is not ConnectionState.CONNECTING for p in profiles
            ),
            timeout=60,
            message="every connection to connect or fail",
        )
        return window

    yield open_
    for window in windows:
        window.close()
        driver.run(window.wait_closed())
        # Destroyed here, on the GUI thread: as cyclic garbage it could be collected on a
        # boto3 worker thread, and Qt crashes when widgets die off the GUI thread.
        shiboken6.delete(window)


@pytest.fixture
def kafka_topics(kafka_bootstrap: str, driver: LoopDriver) -> Iterator[list[str]]:
    """Topics a test creates; deleted afterwards so listings stay short."""
    topics: list[str] = []
    yield topics
    if topics:
        driver.run(delete_topics(kafka_bootstrap, topics), timeout=60)


@pytest.fixture
def sqs_queues(sqs) -> Iterator[list[dict[str, str]]]:
    """Name sets from seed_sqs; their queues are deleted afterwards."""
    seeded: list[dict[str, str]] = []
    yield seeded
    client = boto3.client("sqs", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    sns = boto3.client("sns", endpoint_url=sqs.endpoint_url, region_name=sqs.region)
    for names in seeded:
        if "topic_arn" in names:
            sns.delete_topic(TopicArn=names["topic_arn"])
        for key, name in names.items():
            if key in ("topic", "topic_arn"):
                continue
            try:
                client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])
            except client.exceptions.QueueDoesNotExist:
                pass


@pytest.fixture
def rabbitmq_seed(rabbitmq, driver: LoopDriver, unique_name: str) -> Iterator[dict[str, str]]:
    account = rabbitmq.account()
    names = driver.run(seed_rabbitmq(**account, prefix=unique_name, count=24), timeout=120)
    yield names
    driver.run(remove_seed(**account, names=names), timeout=60)


# --- The connection dialog over an in-memory keyring (the NATS credential tests) ---


@pytest.fixture
def keyring_backend() -> DictKeyring:
    return DictKeyring()


@pytest.fixture
def dialog(qtbot, driver: LoopDriver, keyring_backend: DictKeyring) -> Iterator[ConnectionDialog]:
    """A shown ConnectionDialog whose secrets go to `keyring_backend`; tasks cancelled after."""
    widget = ConnectionDialog([], secrets=SecretStore(keyring_backend))
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.cancel_tasks()
