"""The window's Kafka search through the bulk reader: every match streams into the table,
and a new search stops the old one's reader thread."""

from __future__ import annotations

import pytest

from tests.seed.kafka import fill_topic

from .conftest import LoopDriver
from .test_search_bar import _wait_search_done

TOTAL = 120_000


@pytest.mark.kafka
def test_a_bulk_search_shows_every_match_and_a_new_search_stops_its_reader(
    driver: LoopDriver, open_window, kafka_profile, kafka_bootstrap, kafka_topics, unique_name
):
    topic = f"{unique_name}.orders.DLT"
    kafka_topics.append(topic)
    driver.run(fill_topic(kafka_bootstrap, topic, TOTAL, size=200, partitions=3), timeout=120)
    window = open_window(kafka_profile)
    assert window.open_endpoint_named("Kafka", topic)
    browser, model, bar = window.browser, window.browser.model, window.browser.search_bar
    driver.until(lambda: model.loaded_count > 0 and not model.is_loading, timeout=20)

    # Keys ORD-…7 end in 7: a tenth of the records, spread over the whole topic.
    bar.filters_button.setChecked(True)
    bar.expression_edit.setText("ends_with(orderId, '7')")
    bar.submit()
    driver.until(lambda: browser.search_browser is not None, message="the search")
    first = browser.search_browser
    assert first._bulk is not None  # Kafka is read by the bulk reader
    _wait_search_done(driver, window)
    keys = sorted(model.message_at(row).key for row in range(model.loaded_count))
    assert keys == sorted(b"ORD-%08d" % i for i in range(TOTAL) if i % 10 == 7)
    assert first.scanned == TOTAL
    assert bar.status_label.text() == f"{TOTAL // 10:,} matches in {TOTAL:,} messages"

    # A new search closes the old one: its reader thread ends.
    reader = first._bulk._thread
    bar.expression_edit.setText("orderId == 'ORD-00000003'")
    bar.submit()
    _wait_search_done(driver, window)
    assert browser.search_browser is not first
    driver.until(lambda: not reader.is_alive(), message="the old reader to stop")
    assert [model.message_at(row).key for row in range(model.loaded_count)] == [b"ORD-00000003"]
