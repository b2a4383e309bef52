"""The search bar of the Messages tab, driven as an operator would, against real brokers.

RabbitMQ: a failure-group search, then Replay on the selected results, which must settle
them through the scan's own browser. Kafka: results stream while a 30,000-record scan runs,
Esc stops it, a new search replaces the old, a bad JMESPath is refused, Clear goes back;
and the results exported to JSON Lines come back through Import and replay.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.decoding import decode
from eventdesk.connectors.failure_groups import failure_signature
from eventdesk.connectors.replay import ORIGINAL_ID_HEADER
from eventdesk.connectors.schemas import sample_schema_path, validate
from eventdesk.connectors.search import SearchBrowser, Validity
from eventdesk.gui.main_window import MainWindow
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.seed.kafka import create_topic, fill_topic, read_committed
from tests.seed.rabbitmq import drain_queue

from .conftest import LoopDriver

# Enough that the bulk reader (~50,000 msg/s next to the window) is still reading when
# the first rows show and when Esc is pressed.
FILLER = 200_000
SPECIALS = 12


def _wait_search_done(driver: LoopDriver, window: MainWindow, *, timeout: float = 60) -> None:
    browser = window.browser
    driver.until(
        lambda: (
            browser.search_browser is not None
            and browser.search_browser.finished
            and not browser.model.is_loading
        ),
        timeout=timeout,
        message="the search to finish",
    )


@pytest.mark.rabbitmq
def test_a_group_search_then_replay_acts_on_exactly_the_selected_results(
    driver: LoopDriver, open_window, rabbitmq, rabbitmq_profile, rabbitmq_seed
):
    dlq, source = rabbitmq_seed["dlq"], rabbitmq_seed["source"]
    window = open_window(rabbitmq_profile)
    assert window.open_endpoint_named("RabbitMQ", dlq)
    model = window.browser.model
    driver.until(lambda: model.loaded_count == 24 and not model.is_loading, timeout=20)
    bar = window.browser.search_bar
    driver.until(lambda: bar.group_combo.count() == 3, message="both groups offered")
    expired = next(
        model.message_at(r)
        for r in range(24)
        if model.message_at(r).dead_letter.reason == "expired"
    )
    bar.filters_button.setChecked(True)
    bar.choose_failure_group(failure_signature(expired))
    bar.search_button.click()

    _wait_search_done(driver, window)
    assert window.browser.searching
    assert model.loaded_count == 6
    assert {model.message_at(r).dead_letter.reason for r in range(6)} == {"expired"}
    assert bar.status_label.text() == "6 matches in 24 messages"
    assert window.browser.count_label.text() == "6 matches in 24 messages"

    window.browser.table.selectAll()
    chosen = window.selected_messages()
    assert len(chosen) == 6 and window.replay_action.isEnabled()
    # The scan's browser holds the results: it is the one the replay settles through.
    assert window.browser.holding_browser() is window.browser.search_browser.source
    window.replay_action.trigger()
    wizard = window.replay_wizard
    assert wizard is not None and "6" in wizard.summary_page.title()
    wizard.jump_to_confirm()
    wizard.next()
    driver.wait_signal(wizard.finished_replay, timeout=30)
    assert wizard.result is not None and wizard.result.ok, wizard.result
    wizard.accept()
    driver.until(
        lambda: not window.browser.searching and model.loaded_count == 18 and not model.is_loading,
        timeout=20,
        message="the DLQ to reopen without the replayed results",
    )

    window.close()
    driver.run(window.wait_closed())
    replayed = [
        m
        for m in driver.run(drain_queue(**rabbitmq.credentials(), queue=source))
        if ORIGINAL_ID_HEADER in (m.headers or {})
    ]
    assert sorted(str(m.headers[ORIGINAL_ID_HEADER]) for m in replayed) == sorted(
        m.id for m in chosen
    )
    assert len(driver.run(drain_queue(**rabbitmq.credentials(), queue=dlq))) == 18


async def _fill_with_specials(bootstrap: str, topic: str) -> list[str]:
    """SPECIALS tagged records first, then FILLER Spring dead letters: matches come early."""
    await create_topic(bootstrap, topic)
    keys = [f"SPECIAL-{i:02d}" for i in range(SPECIALS)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
    await producer.start()
    try:
        for number, key in enumerate(keys):
            body = {"orderId": key, "priority": "high" if number % 2 else "low"}
            await producer.send_and_wait(
                topic, json.dumps(body).encode(), key=key.encode(), headers=[("x-tenant", b"gold")]
            )
    finally:
        await producer.stop()
    await fill_topic(bootstrap, topic, FILLER, size=256)
    return keys


@pytest.fixture
def big_dlt(driver: LoopDriver, kafka_bootstrap: str, kafka_topics: list[str], unique_name: str):
    topic = f"{unique_name}.orders.DLT"
    kafka_topics.append(topic)
    keys = driver.run(_fill_with_specials(kafka_bootstrap, topic), timeout=120)
    return topic, keys


@pytest.mark.kafka
def test_results_stream_esc_stops_a_new_search_replaces_and_clear_goes_back(
    driver: LoopDriver, open_window, kafka_profile, big_dlt
):
    topic, keys = big_dlt
    window = open_window(kafka_profile)
    assert window.open_endpoint_named("Kafka", topic)
    browser, model, bar = window.browser, window.browser.model, window.browser.search_bar
    driver.until(lambda: model.loaded_count > 0 and not model.is_loading, timeout=20)
    plain = model.browser
    total = FILLER + SPECIALS

    window.activateWindow()
    QTest.keyClick(browser.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    driver.until(lambda: QApplication.focusWidget() is bar.text_edit, message="focus on search")

    # A JMESPath that does not parse: said under the field; the table is not touched.
    bar.filters_button.setChecked(True)
    bar.expression_edit.setText("priority == 'high")
    bar.submit()
    assert bar.error_label.isVisibleTo(bar)
    assert "not valid at character" in bar.error_label.text()
    assert "jmespath.org" in bar.error_label.text()
    assert model.browser is plain and not browser.searching

    # Results stream: the specials sit at the start, so rows show while the scan reads on.
    bar.expression_edit.setText("priority == 'high'")
    bar.text_edit.setText("special")
    bar.submit()
    assert not bar.error_label.isVisibleTo(bar)
    # The window shows "Stopped" for a turn of the loop between two pages (the model ends
    # one fetch before it starts the next), so look and press Esc in one go, mid-fetch.
    seen: dict[str, object] = {}

    def first_rows_then_esc() -> bool:
        running = model.is_loading and "Searching…" in bar.status_label.text()
        if not (model.loaded_count == SPECIALS // 2 and running):
            return False
        seen.update(
            scanned=browser.search_browser.scanned,
            progress=bar.progress_row.isVisibleTo(bar),
            label=bar.status_label.text(),
            stop_enabled=browser.stop_action.isEnabled(),
        )
        # Esc in the search field stops the scan: nothing more is read.
        QTest.keyClick(bar.text_edit, Qt.Key.Key_Escape)
        return True

    driver.until(first_rows_then_esc, timeout=30, message="first rows")
    first = browser.search_browser
    assert first is not None and seen["scanned"] < total
    assert seen["progress"] and "Searching…" in seen["label"] and seen["stop_enabled"]
    driver.until(lambda: not model.is_loading, message="the scan to stop")
    stopped_at = first.scanned
    driver.run(asyncio.sleep(0.5))
    assert first.scanned == stopped_at < total and not first.finished
    assert bar.status_label.text().startswith("Stopped: 6 matches in the first")

    # A new search replaces the old one, which is closed and reads no more.
    bar.expression_edit.clear()
    bar.text_edit.clear()
    bar.header_name_edit.setText("x-tenant")
    bar.header_value_edit.setText("gold")
    bar.submit()
    driver.until(lambda: browser.search_browser not in (None, first), message="the new search")
    second = browser.search_browser
    _wait_search_done(driver, window)
    assert first.scanned == stopped_at
    assert second.scanned == total
    assert sorted(model.message_at(r).key.decode() for r in range(model.loaded_count)) == keys
    assert bar.status_label.text() == f"{SPECIALS} matches in {total:,} messages"

    # Clear: the plain browse of the topic is back.
    bar.clear_button.click()
    driver.until(
        lambda: (
            model.browser is not None
            and not isinstance(model.browser, SearchBrowser)
            and model.loaded_count > SPECIALS
            and not model.is_loading
        ),
        timeout=20,
        message="the plain browse",
    )
    assert not browser.searching and not bar.progress_row.isVisibleTo(bar)
    assert bar.text_edit.text() == "" and bar.header_name_edit.text() == ""


@pytest.mark.kafka
def test_exported_results_come_back_through_import_and_replay(
    driver: LoopDriver,
    open_window,
    kafka_profile,
    kafka_bootstrap: str,
    kafka_topics: list[str],
    big_dlt,
    tmp_path: Path,
):
    topic, keys = big_dlt
    restored = f"{topic}.restored"
    kafka_topics.append(restored)
    driver.run(create_topic(kafka_bootstrap, restored))
    window = open_window(kafka_profile)
    window.refresh()
    driver.until(
        lambda: any(e.name == restored for e in window.tree_model.endpoints("Kafka")),
        timeout=20,
        message="the new topic listed",
    )
    assert window.open_endpoint_named("Kafka", topic)
    bar = window.browser.search_bar
    bar.text_edit.setText("SPECIAL-")
    bar.submit()
    _wait_search_done(driver, window)
    results = [window.browser.model.message_at(r) for r in range(window.browser.model.loaded_count)]
    assert [m.key.decode() for m in results] == keys

    # Nothing selected: Export writes every result.
    path = tmp_path / "specials.jsonl"
    assert window.message_files.messages_to_export() == results
    count, written = _export(driver, window, path, results)
    assert (count, written) == (SPECIALS, str(path))
    assert len(path.read_text(encoding="utf-8").splitlines()) == SPECIALS

    # Import and replay into a plain topic the operator has open.
    window.dead_letters_only_action.setChecked(False)
    assert window.open_endpoint_named("Kafka", restored)

    # A file with a broken line: the line is named, no wizard opens.
    broken = tmp_path / "broken.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    broken.write_text("\n".join([lines[0], lines[1][:30], *lines[2:]]) + "\n", encoding="utf-8")
    window.message_files.import_from(broken)
    (report,) = driver.wait_signal(window.error_presenter.report_added, timeout=20)
    assert report.context == "Importing broken.jsonl" and report.expected
    assert report.message.startswith("broken.jsonl: 1 bad line: line 2: not JSON")
    assert "nothing was imported" in report.hint
    assert window.replay_wizard is None
    task = window.message_files.import_from(path)
    assert task is not None
    (wizard,) = driver.wait_signal(window.message_files.wizard_opened, timeout=20)
    assert wizard.endpoint == "file:specials.jsonl"
    assert wizard.target() == restored
    wizard.jump_to_confirm()
    assert "The file is left as it is" in wizard.confirm_page.summary_label.text()
    wizard.next()
    driver.wait_signal(wizard.finished_replay, timeout=30)
    assert wizard.result is not None and wizard.result.ok, wizard.result
    wizard.accept()
    replayed = driver.run(read_committed(kafka_bootstrap, restored))
    assert [r.value for r in replayed] == [m.body for m in results]
    assert [r.key for r in replayed] == [m.key for m in results]


def _export(driver: LoopDriver, window: MainWindow, path: Path, results) -> tuple[int, str]:
    future: asyncio.Future[tuple[int, str]] = driver.loop.create_future()
    window.message_files.exported.connect(
        lambda count, written: future.done() or future.set_result((count, written))
    )
    window.message_files.export_to(path, results)
    return driver.run(future, timeout=20)


@pytest.mark.rabbitmq
def test_validity_and_time_filters_use_the_mapped_schema_and_say_when_nothing_matches(
    driver: LoopDriver, open_window, rabbitmq_profile, rabbitmq_seed
):
    dlq = rabbitmq_seed["dlq"]
    window = open_window(rabbitmq_profile)
    assert window.open_endpoint_named("RabbitMQ", dlq)
    model, bar = window.browser.model, window.browser.search_bar
    driver.until(lambda: model.loaded_count == 24 and not model.is_loading, timeout=20)
    loaded = [model.message_at(r) for r in range(24)]
    bar.filters_button.setChecked(True)

    # No schema mapped yet: the validity filter says what to do instead of scanning.
    bar.validity_combo.setCurrentIndex(bar.validity_combo.findData(Validity.INVALID))
    bar.submit()
    assert "No schema is mapped" in bar.error_label.text()
    assert not window.browser.searching

    schema = window.detail.schemas.map_file(dlq, sample_schema_path("order.schema.json"))
    expected = sorted(m.id for m in loaded if not validate(decode(m.body), schema).valid)
    assert 0 < len(expected) < 24  # the seed's gzip body, at least
    bar.submit()
    _wait_search_done(driver, window)
    assert sorted(model.message_at(r).id for r in range(model.loaded_count)) == expected

    # A time range nothing falls in: zero matches, and the queue is not called empty.
    bar.validity_combo.setCurrentIndex(0)
    bar.since_check.setChecked(True)
    bar.since_edit.setDateTime(QDateTime.currentDateTime().addDays(1))
    bar.submit()
    driver.until(lambda: window.browser.search_browser is not None, message="the new search")
    _wait_search_done(driver, window)
    assert model.loaded_count == 0
    assert bar.status_label.text() == "0 matches in 24 messages"
    assert "is empty" not in window.detail.empty.text()


def test_the_filters_button_counts_what_the_folded_builder_has_set(qtbot):
    from eventdesk.gui.search_bar import SearchBarWidget

    bar = SearchBarWidget()
    qtbot.addWidget(bar)
    assert bar.filters_button.text() == "Filters"
    assert not bar.filters_button.font().bold()

    bar.filters_button.setChecked(True)
    bar.header_name_edit.setText("x-tenant")
    bar.header_value_edit.setText("gold")
    bar.expression_edit.setText("amount > `100`")
    bar.validity_combo.setCurrentIndex(bar.validity_combo.findData(Validity.INVALID))
    bar.filters_button.setChecked(False)  # folded away: the button still tells
    assert not bar.builder.isVisible()
    assert bar.filters_button.text() == "Filters (3)"
    assert bar.filters_button.font().bold()
    tip = bar.filters_button.toolTip()
    assert "header x-tenant = gold" in tip and "JMESPath amount > `100`" in tip
    assert "invalid" in tip

    bar.text_edit.setText("timeout")  # the text box shows itself: not counted
    assert bar.filters_button.text() == "Filters (3)"
    with qtbot.waitSignal(bar.clear_requested):
        bar.clear()
    assert bar.filters_button.text() == "Filters"
    assert not bar.filters_button.font().bold()
