"""What a replay from the window left on the local RabbitMQ, checked on the broker itself."""

from __future__ import annotations

from collections.abc import Iterable

from eventdesk.connectors.model import Message
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER
from eventdesk.gui.main_window import MainWindow

from tests.conftest import RabbitMQSettings
from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver


def assert_replayed_on_the_broker(
    driver: LoopDriver,
    window: MainWindow,
    rabbitmq: RabbitMQSettings,
    *,
    source: str,
    dlq: str,
    chosen: Iterable[Message],
    left: int,
) -> None:
    """Close the window (it gives every held message back), then check on the broker that
    `source` got exactly the `chosen` messages as replays and `dlq` kept `left` messages."""
    window.close()
    driver.run(window.wait_closed())
    in_source = driver.run(drain_queue(**rabbitmq.credentials(), queue=source))
    replayed = [m for m in in_source if ORIGINAL_ID_HEADER in (m.headers or {})]
    assert sorted(str(m.headers[ORIGINAL_ID_HEADER]) for m in replayed) == sorted(
        m.id for m in chosen
    )
    assert len(driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))) == left
