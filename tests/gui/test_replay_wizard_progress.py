"""The replay wizard's progress page: count, rate and an ETA from a moving average.

The moving rate and the ETA's wording are pure logic (a fake clock); the ETA on screen is
watched during a real replay of a few hundred RabbitMQ dead letters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import aio_pika
import pytest
from eventdesk.connectors.journal import Journal
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.replay_wizard import MovingRate, duration_text, eta_text

from tests.conftest import RabbitMQSettings
from tests.seed.rabbitmq import drain_queue, fill_dead_letter_queue

from .conftest import LoopDriver
from .endpoints import open_loaded

ETA_FORMAT = re.compile(r"ETA (\d+ s|\d+ min \d\d s|\d+ h \d\d min)")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the moving rate and its ETA (pure logic) ---------------------------------------------


def test_no_rate_and_no_eta_before_two_samples_half_a_second_apart() -> None:
    clock = FakeClock()
    rate = MovingRate(window=10, clock=clock, min_span=0.5)
    assert rate.rate() is None and rate.eta(100) is None
    rate.add(0)
    assert rate.rate() is None and rate.eta(100) is None
    # A batch confirmed at once reads as a burst: not a rate to promise an ETA on.
    clock.now += 0.1
    rate.add(100)
    assert rate.rate() is None
    assert eta_text(rate.eta(100)) == "ETA: estimating…"
    clock.now += 0.9
    rate.add(150)
    assert rate.rate() == pytest.approx(150)
    assert rate.eta(300) == pytest.approx(2)


def test_the_rate_follows_the_last_window_not_the_whole_run() -> None:
    clock = FakeClock()
    rate = MovingRate(window=10, clock=clock)
    rate.add(0)
    for second in range(1, 21):  # 100 msg/s for 20 s ...
        clock.now += 1
        rate.add(100 * second)
    assert rate.rate() == pytest.approx(100)
    for second in range(1, 21):  # ... then 10 msg/s for 20 s
        clock.now += 1
        rate.add(2000 + 10 * second)
    # The whole run's average would be 55 msg/s; the last 10 s say 10.
    assert rate.rate() == pytest.approx(10)
    assert rate.eta(300) == pytest.approx(30)


def test_a_stalled_run_has_no_eta_and_a_finished_one_needs_none() -> None:
    clock = FakeClock()
    rate = MovingRate(window=5, clock=clock)
    rate.add(50)
    for _ in range(10):
        clock.now += 1
        rate.add(50)
    assert rate.rate() == 0 and rate.eta(10) is None
    assert rate.eta(0) == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 s"),
        (59, "59 s"),
        (60, "1 min 00 s"),
        (125.4, "2 min 06 s"),
        (3600, "1 h 00 min"),
        (7627, "2 h 07 min"),
    ],
)
def test_durations_read_as_an_operator_says_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert eta_text(seconds) == f"ETA {text}"
    assert ETA_FORMAT.fullmatch(eta_text(seconds))


# -- on screen, during a real replay --------------------------------------------------------

BULK = 300


@pytest.fixture
def bulk_dlq(rabbitmq: RabbitMQSettings, driver: LoopDriver, unique_name: str) -> Iterator[str]:
    """A DLQ of BULK real dead letters (expired on arrival), and an empty target queue."""
    dlq = f"{unique_name}.bulk.dlq"
    driver.run(fill_dead_letter_queue(**rabbitmq.credentials(), queue=dlq, count=BULK), timeout=120)
    driver.run(_queues(rabbitmq, declare=[f"{dlq}.target"]), timeout=30)
    yield dlq
    driver.run(_queues(rabbitmq, delete=[dlq, f"{dlq}.target"]), timeout=60)


async def _queues(
    rabbitmq: RabbitMQSettings, *, declare: Sequence[str] = (), delete: Sequence[str] = ()
) -> None:
    connection = await aio_pika.connect(
        host=rabbitmq.host, port=rabbitmq.port, login=rabbitmq.username, password=rabbitmq.password
    )
    try:
        channel = await connection.channel()
        for name in declare:
            await channel.declare_queue(name, durable=True)
        for name in delete:
            await channel.queue_delete(name)
    finally:
        await connection.close()


@pytest.mark.rabbitmq
def test_the_progress_page_shows_count_rate_and_an_eta_while_replaying(
    driver: LoopDriver,
    open_window,
    rabbitmq: RabbitMQSettings,
    rabbitmq_profile: ConnectionProfile,
    bulk_dlq: str,
):
    window: MainWindow = open_window(rabbitmq_profile)
    model = open_loaded(driver, window, "RabbitMQ", bulk_dlq, 1)
    model.load_all()
    driver.until(
        lambda: model.loaded_count >= BULK and not model.is_loading, timeout=60, message="all rows"
    )
    window.browser.select_rows(list(range(BULK)))
    window.replay_action.trigger()
    wizard = window.replay_wizard
    assert wizard is not None
    wizard.next()  # target
    wizard.target_page.other_radio.setChecked(True)
    wizard.target_page.endpoint_combo.setCurrentText(f"{bulk_dlq}.target")
    wizard.next()  # options
    # Paced, so the run lasts a few seconds and several progress reports arrive.
    wizard.options_page.rate_spin.setValue(120)
    wizard.next()  # preview
    wizard.next()  # confirm
    wizard.next()  # commit
    page = wizard.progress_page
    assert page.eta_label.text() == "ETA: estimating…"

    seen: list[str] = []

    def eta_shown() -> bool:
        text = page.eta_label.text()
        if wizard.running and text not in seen:
            seen.append(text)
        return ETA_FORMAT.fullmatch(text) is not None and wizard.running

    driver.until(eta_shown, timeout=60, message="an ETA during the replay")
    assert page.cancel_button.isVisibleTo(wizard) and page.cancel_button.isEnabled()
    status = page.status_label.text()
    match = re.fullmatch(
        r"(\d[\d,]*) of 300 · (\d[\d,]*) sent · 0 failed · (\d[\d,]*) msg/s", status
    )
    assert match, status
    assert 0 < int(match[1].replace(",", "")) < BULK
    assert int(match[3].replace(",", "")) > 0
    driver.wait_signal(wizard.finished_replay, timeout=60)
    assert wizard.result is not None and wizard.result.ok, wizard.result
    assert re.fullmatch(r"Took \d+ s", page.eta_label.text())
    # Nothing failed: no failure box, and nothing left to stop.
    assert not page.result_edit.isVisibleTo(wizard)
    assert not page.cancel_button.isVisibleTo(wizard)
    assert all(ETA_FORMAT.fullmatch(t) or t == "ETA: estimating…" for t in seen), seen
    wizard.accept()

    window.close()
    driver.run(window.wait_closed())
    target = driver.run(drain_queue(**rabbitmq.credentials(), queue=f"{bulk_dlq}.target"))
    assert len(target) == BULK
    with Journal.open() as journal:
        (action,) = journal.actions()
        assert action.target_connection == "RabbitMQ" and action.target == f"{bulk_dlq}.target"
