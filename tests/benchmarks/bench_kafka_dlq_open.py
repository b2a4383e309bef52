"""Open a Kafka DLQ of 100,000 1 KB dead letters in the real window; print what it costs.

    python -m tests.benchmarks.bench_kafka_dlq_open [--count N]

Figures: time from clicking the DLQ to its first rows on screen, the full-index rate
(every message loaded into the table), the worst stall of the UI event loop meanwhile,
and resident memory. Beside them, in the same run, kcat reading the same topic: the
reference for how fast the broker can hand the messages out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import psutil
import qasync
from eventdesk.connectors.errors import EndpointNotFound
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.gui.app import configure_application
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.main_window import MainWindow
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from tests.seed.kafka import fill_topic

from .report import Row, kcat_read, print_table

BOOTSTRAP = f"127.0.0.1:{os.environ.get('EVENTDESK_KAFKA_PORT', '19092')}"
TOPIC = "bench.orders.DLT"
CONNECTION = "Bench Kafka"


class StallMonitor:
    """Ticks every 5 ms on the UI loop; the longest gap beyond that is the worst stall."""

    INTERVAL_MS = 5

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timer_timeout(self) -> None:
        gap = self._clock.nsecsElapsed() / 1e6
        self._clock.restart()
        self.worst_ms = max(self.worst_ms, gap - self.INTERVAL_MS)


async def topic_size(topic: str) -> int:
    async with KafkaConnector(BOOTSTRAP) as connector:
        try:
            return await connector.depth(topic)
        except EndpointNotFound:
            return 0


async def ensure_topic(count: int) -> None:
    have = await topic_size(TOPIC)
    if have == count:
        return
    if have:
        raise SystemExit(
            f"{TOPIC} holds {have} messages, not {count}: delete it or use --count {have}"
        )
    print(f"filling {TOPIC} with {count:,} 1 KB dead letters…", flush=True)
    await fill_topic(BOOTSTRAP, TOPIC, count, size=1024, partitions=3)


def kcat_read_all(count: int) -> float | None:
    """Seconds kcat takes to read every message of the topic (None when kcat is missing)."""
    result = kcat_read(BOOTSTRAP, TOPIC, count, "%o\n")
    return None if result is None else result[0]


def kcat_first_page(page: int = 500) -> float | None:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        return None
    started = time.perf_counter()
    subprocess.run(
        [kcat, "-C", "-b", BOOTSTRAP, "-t", TOPIC, "-o", "beginning", "-c", str(page), "-q"],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


@dataclass
class WindowFigures:
    first_rows_s: float
    full_index_s: float
    worst_stall_ms: float
    rss_before_mb: float
    rss_after_mb: float


async def wait_until(predicate, *, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def measure_window(count: int) -> WindowFigures:
    profile = ConnectionProfile(CONNECTION, BrokerKind.KAFKA, {"bootstrap_servers": BOOTSTRAP})
    window = MainWindow([profile])
    window.show()
    process = psutil.Process()
    await wait_until(
        lambda: window.tree_model.state(CONNECTION) is ConnectionState.CONNECTED,
        timeout=30,
        what="the connection and its endpoint list",
    )
    await asyncio.sleep(0.5)  # let start-up work settle so the stall figure is the browse's own

    rss_before = process.memory_info().rss / 2**20
    monitor = StallMonitor()
    monitor.start()
    model = window.browser.model
    started = time.perf_counter()
    window.open_endpoint_named(CONNECTION, TOPIC)
    await wait_until(lambda: model.loaded_count > 0, timeout=30, what="first rows")
    QApplication.processEvents()  # the rows are painted, not just in the model
    first_rows = time.perf_counter() - started
    model.load_all()
    await wait_until(
        lambda: model.loaded_count >= count and not model.is_loading,
        timeout=600,
        what="the full index",
    )
    full_index = time.perf_counter() - started
    monitor.stop()
    rss_after = process.memory_info().rss / 2**20
    window.close()
    await window.wait_closed()
    return WindowFigures(first_rows, full_index, monitor.worst_ms, rss_before, rss_after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the app is made
    app = QApplication.instance() or QApplication([])
    configure_application(app)
    asyncio.run(ensure_topic(args.count))  # plain asyncio: seeding is not what is measured
    figures = qasync.run(measure_window(args.count))
    kcat_page = kcat_first_page()
    kcat_all = kcat_read_all(args.count)

    rows = [
        Row(
            "time to first page shown",
            f"{figures.first_rows_s * 1000:.0f} ms",
            f"{kcat_page * 1000:.0f} ms (first 500)" if kcat_page else "kcat missing",
            "< 1 s",
        ),
        Row(
            "full index, all rows in the table",
            f"{args.count / figures.full_index_s:,.0f} msg/s ({figures.full_index_s:.1f} s)",
            f"{args.count / kcat_all:,.0f} msg/s ({kcat_all:.1f} s)"
            if kcat_all
            else "kcat missing",
            "",
        ),
        Row("worst UI event-loop stall", f"{figures.worst_stall_ms:.0f} ms", "", "≤ 100 ms"),
        Row(
            "RSS before → after full index",
            f"{figures.rss_before_mb:.0f} → {figures.rss_after_mb:.0f} MB",
            "",
            "",
        ),
    ]
    print_table(f"Open a Kafka DLQ of {args.count:,} × 1 KB ({TOPIC})", rows)


if __name__ == "__main__":
    main()
