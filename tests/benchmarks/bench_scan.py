"""Search a 1,000,000-message Kafka DLQ with a JMESPath payload filter; print what it costs.

    python -m tests.benchmarks.bench_scan [--count N] [--cleanup]

Figures: messages scanned per second by Eventdesk's scan (connectors/search.py) with
`status == 'rejected'` (1% of the dead letters match), beside kcat reading the whole topic
in the same run and confluent-kafka alone reading it with a bytes test per value (the
library's floor: library_floor.py); and the worst stall of the UI event loop while the
real window's search bar runs the same search (offscreen). Every count is checked.
The topic is filled once and reused while it holds the right count; --cleanup deletes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from eventdesk.connectors.errors import EndpointNotFound
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.search import SCAN_PAGE_SIZE, SearchQuery, compile_query, scan

from tests.seed.kafka import create_topic, delete_topics

from .library_floor import confluent_scan
from .report import Row, kcat_read, print_table

BOOTSTRAP = f"127.0.0.1:{os.environ.get('EVENTDESK_KAFKA_PORT', '19092')}"
TOPIC = "bench.scan.orders.DLT"
SOURCE = "bench.scan.orders"
CONNECTION = "Bench Kafka scan"
PARTITIONS = 3
EXPRESSION = "status == 'rejected'"


def is_rejected(i: int) -> bool:
    return i % 100 == 37


def is_decoy(i: int) -> bool:
    # Says "rejected" in a note, not in status: passes a raw-bytes prefilter, must not match.
    return i % 100 == 71


def expected_matches(count: int) -> int:
    return sum(1 for i in range(count) if is_rejected(i))


def dead_letter_value(i: int) -> bytes:
    """A ~300-byte order event; 1% rejected, 1% decoys that only mention the word."""
    document = {
        "orderId": f"ORD-{i:08d}",
        "customer": {"id": f"CUST-{i % 9973:05d}", "tier": "gold" if i % 7 == 0 else "silver"},
        "status": "rejected" if is_rejected(i) else "failed",
        "amount": {"value": (i * 37) % 100_000 / 100, "currency": "EUR"},
        "lines": [
            {"sku": f"SKU-{(i + n) % 5000:05d}", "qty": 1 + (i + n) % 4} for n in range(1 + i % 3)
        ],
        "note": "previously rejected by fraud check, retried" if is_decoy(i) else "",
        "placedAt": "2026-11-27T10:15:30.123Z",
    }
    return json.dumps(document, separators=(",", ":")).encode()


def dlt_headers(partition: int, offset: int, now_ms: int) -> list[tuple[str, bytes]]:
    """Spring Kafka's DeadLetterPublishingRecoverer headers (no stack trace: keeps it small)."""
    return [
        (
            "kafka_dlt-exception-fqcn",
            b"org.springframework.kafka.listener.ListenerExecutionFailedException",
        ),
        ("kafka_dlt-exception-cause-fqcn", b"com.acme.orders.OrderRejectedException"),
        ("kafka_dlt-exception-message", b"Listener method threw exception; order rejected"),
        ("kafka_dlt-original-topic", SOURCE.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", now_ms - 60_000)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", b"order-fulfilment"),
    ]


async def topic_size(topic: str) -> int:
    async with KafkaConnector(BOOTSTRAP) as connector:
        try:
            return await connector.depth(topic)
        except EndpointNotFound:
            return 0


async def fill(count: int) -> None:
    """`count` dead letters in whole batches of ~1 MB (per-record sends would take minutes)."""
    await create_topic(BOOTSTRAP, TOPIC, PARTITIONS)
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, client_id="eventdesk-bench", acks=1, max_batch_size=1_000_000
    )
    await producer.start()
    try:
        now_ms = int(time.time() * 1000)
        batches = [producer.create_batch() for _ in range(PARTITIONS)]
        deliveries = []
        for i in range(count):
            partition = i % PARTITIONS
            record = {
                "key": b"ORD-%08d" % i,
                "value": dead_letter_value(i),
                "timestamp": now_ms,
                "headers": dlt_headers(partition, i // PARTITIONS, now_ms),
            }
            if batches[partition].append(**record) is None:
                deliveries.append(
                    await producer.send_batch(batches[partition], TOPIC, partition=partition)
                )
                batches[partition] = producer.create_batch()
                batches[partition].append(**record)
        for partition, batch in enumerate(batches):
            if batch.record_count():
                deliveries.append(await producer.send_batch(batch, TOPIC, partition=partition))
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def ensure_topic(count: int) -> None:
    have = await topic_size(TOPIC)
    if have == count:
        return
    if have:
        raise SystemExit(f"{TOPIC} holds {have:,} messages, not {count:,}: run with --cleanup")
    print(f"filling {TOPIC} with {count:,} dead letters (once; reused after)…", flush=True)
    started = time.perf_counter()
    await fill(count)
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)


async def delete_topic() -> None:
    await delete_topics(BOOTSTRAP, [TOPIC])


def kcat_read_all(count: int) -> float | None:
    """Seconds kcat takes to read every value of the topic (None when kcat is missing)."""
    result = kcat_read(BOOTSTRAP, TOPIC, count, "%s\n")
    if result is None:
        return None
    elapsed, out = result
    rejected = sum(1 for line in out.splitlines() if b'"status":"rejected"' in line)
    if rejected != expected_matches(count):
        raise SystemExit(f"kcat saw {rejected:,} rejected, expected {expected_matches(count):,}")
    return elapsed


def library_floor_read(count: int) -> float:
    """Seconds confluent-kafka alone takes to read the topic testing each value for the
    expression's literal (library_floor.confluent_scan); its count is checked too."""
    elapsed, found = confluent_scan(BOOTSTRAP, TOPIC, b"rejected")
    expected = sum(1 for i in range(count) if is_rejected(i) or is_decoy(i))
    if found != expected:
        raise SystemExit(f"the bare read found {found:,} values with 'rejected', not {expected:,}")
    return elapsed


async def scan_headless(count: int) -> float:
    """Seconds Eventdesk's scan takes over the whole topic, no window (what the CLI sees)."""
    matcher = compile_query(SearchQuery(expression=EXPRESSION))
    found = 0
    started = time.perf_counter()
    async with KafkaConnector(BOOTSTRAP) as kafka:
        async with kafka.browse(TOPIC, page_size=SCAN_PAGE_SIZE) as browser:
            async for step in scan(browser, matcher, total=count):
                found += len(step.matches)
                last = step
    elapsed = time.perf_counter() - started
    if last.scanned != count or found != expected_matches(count):
        raise SystemExit(
            f"scan read {last.scanned:,} and found {found:,}; "
            f"expected {count:,} and {expected_matches(count):,}"
        )
    return elapsed


@dataclass
class WindowFigures:
    scan_s: float
    worst_stall_ms: float
    matched: int


async def measure_window(count: int) -> WindowFigures:
    # Qt is imported here so that --cleanup and the headless scan need no display.
    from eventdesk.connectors.model import BrokerKind
    from eventdesk.connectors.profiles import ConnectionProfile
    from eventdesk.gui.connection_tree_model import ConnectionState
    from eventdesk.gui.garbage_collector import GuiThreadGarbageCollector
    from eventdesk.gui.main_window import MainWindow
    from PySide6.QtWidgets import QApplication

    from .bench_kafka_dlq_open import StallMonitor, wait_until

    collector = GuiThreadGarbageCollector()  # as the app runs: collections on the UI thread
    collector.start()
    profile = ConnectionProfile(CONNECTION, BrokerKind.KAFKA, {"bootstrap_servers": BOOTSTRAP})
    window = MainWindow([profile])
    window.show()
    await wait_until(
        lambda: window.tree_model.state(CONNECTION) is ConnectionState.CONNECTED,
        timeout=30,
        what="the connection and its endpoint list",
    )
    browser = window.browser
    window.open_endpoint_named(CONNECTION, TOPIC)
    await wait_until(lambda: browser.model.loaded_count > 0, timeout=30, what="first rows")
    await asyncio.sleep(0.5)  # let the open settle so the stall figure is the search's own
    QApplication.processEvents()

    monitor = StallMonitor()
    monitor.start()
    started = time.perf_counter()
    bar = browser.search_bar
    bar.expression_edit.setText(EXPRESSION)
    bar.submit()

    def finished() -> bool:
        search = browser.search_browser
        return search is not None and search.finished and not browser.model.is_loading

    await wait_until(finished, timeout=900, what="the search to finish")
    elapsed = time.perf_counter() - started
    monitor.stop()
    search = browser.search_browser
    assert search is not None
    matched = browser.model.loaded_count
    if search.scanned != count or matched != expected_matches(count):
        raise SystemExit(
            f"the window scanned {search.scanned:,} and shows {matched:,}; "
            f"expected {count:,} and {expected_matches(count):,}"
        )
    window.close()
    await window.wait_closed()
    collector.stop()
    return WindowFigures(elapsed, monitor.worst_ms, matched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--cleanup", action="store_true", help=f"delete {TOPIC} and stop")
    parser.add_argument("--fill-only", action="store_true", help="fill the topic and stop")
    args = parser.parse_args()
    if args.cleanup:
        asyncio.run(delete_topic())
        print(f"deleted {TOPIC}")
        return
    asyncio.run(ensure_topic(args.count))  # plain asyncio: seeding is not what is measured
    if args.fill_only:
        return

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the app is made
    import qasync
    from eventdesk.gui.app import configure_application
    from PySide6.QtWidgets import QApplication

    kcat_s = kcat_read_all(args.count)
    floor_s = library_floor_read(args.count)
    headless_s = asyncio.run(scan_headless(args.count))
    app = QApplication.instance() or QApplication([])
    configure_application(app)
    window = qasync.run(measure_window(args.count))
    load = os.getloadavg()

    def rate(seconds: float) -> str:
        return f"{args.count / seconds:,.0f} msg/s ({seconds:.1f} s)"

    def ratio(seconds: float) -> str:
        return f"{kcat_s / seconds:.2f}× kcat" if kcat_s else ""

    rows = [
        Row(
            f"scan, {EXPRESSION} (no window)",
            f"{rate(headless_s)}, {ratio(headless_s)}",
            rate(kcat_s) if kcat_s else "kcat missing",
            "≥ 0.5× kcat",
        ),
        Row(
            "library floor: confluent-kafka alone, a bytes test per value",
            f"{rate(floor_s)}, {ratio(floor_s)}",
            "",
            "",
        ),
        Row(
            "same search from the window's search bar",
            f"{rate(window.scan_s)}, {ratio(window.scan_s)}",
            "",
            "≥ 0.5× kcat",
        ),
        Row(
            "matches (both agree with the known count)",
            f"{window.matched:,}",
            f"{expected_matches(args.count):,}",
            "",
        ),
        Row(
            "worst UI event-loop stall during the search",
            f"{window.worst_stall_ms:.0f} ms",
            "",
            "≤ 50 ms",
        ),
        Row("load average (1, 5, 15 min) at the end", " / ".join(f"{x:.2f}" for x in load), "", ""),
    ]
    print_table(f"Search a Kafka DLQ of {args.count:,} dead letters ({TOPIC})", rows)


if __name__ == "__main__":
    main()
