"""Sample 50 consumer groups × 100 partitions with the Monitor open; print what it costs.

    python -m tests.benchmarks.bench_monitor [--duration 300] [--interval 2] [--profile FILE]

Set-up, the cheapest real one: one topic of 100 partitions; each of 50 groups commits an
offset on every partition, so every group has 100 partitions with lag (5,000 in all).
A separate load process keeps producing (lag grows) and lets half of the groups commit
further every 10 s (their lag falls back), so samples move both ways.

Figures, from the real window (Monitor tab shown, sampling every `--interval` s):
sampler round wall time and CPU share (`time.process_time` around every round of the
sampler's loop, and around the Monitor's handling of each snapshot), chart redraw cost
(each redraw timer tick that called setData, and each chart paint), the worst UI
event-loop stall and its p99 (a 5 ms QTimer heartbeat; also measured for `--control` s
before the Monitor is shown, as the machine's own noise), and RSS each minute (with
anonymous against file-backed pages, and glibc's heap in use against free but kept).
Beside them, in the same run after the window closed, Kafka's own
`kafka-consumer-groups --describe --all-groups` on the same interval, with the same load
still running.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import cProfile
import ctypes
import functools
import gc
import logging
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pyqtgraph as pg
import qasync
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from eventdesk.connectors import sampling
from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.sampling import Metric, Snapshot
from eventdesk.gui.app import configure_application
from eventdesk.gui.connection_tree_model import ConnectionState
from eventdesk.gui.garbage_collector import GuiThreadGarbageCollector, settle_start_up
from eventdesk.gui.heap_trim import HeapTrimmer, trim_heap
from eventdesk.gui.lag_chart_widget import LagChartWidget
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.monitor_view import MonitorView
from PySide6.QtWidgets import QApplication

from tests.seed.kafka import commit_offsets, delete_groups, fill_topic

from .bench_kafka_dlq_open import StallMonitor, wait_until
from .report import Row, print_table

BOOTSTRAP = f"127.0.0.1:{os.environ.get('EVENTDESK_KAFKA_PORT', '19092')}"
TOPIC = "bench.monitor.events"
GROUP_PREFIX = "eventdesk-bench-monitor-"
CONNECTION = "Bench Kafka"
RECORDS_PER_PARTITION = 200
PRODUCED_PER_SECOND = 100  # one record per partition each second
COMMIT_EVERY_S = 10.0
REPO = Path(__file__).resolve().parents[2]
BROKERS_DIR = Path(os.environ.get("EVENTDESK_BROKERS_DIR") or REPO / ".brokers")
# run.sh fetches it: kafka-consumer-groups is in kafka-tools, not in the broker's jars.
KAFKA_TOOLS = BROKERS_DIR / f"kafka-tools-{os.environ.get('EVENTDESK_KAFKA_VERSION', '4.4.0')}"
GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def group_names(count: int) -> list[str]:
    return [f"{GROUP_PREFIX}{i:02d}" for i in range(count)]


# -- set-up and clean-up ----------------------------------------------------------------


async def clean_up() -> None:
    """Remove the topic and every benchmark group, also those a crashed run left."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="eventdesk-bench")
    await admin.start()
    try:
        groups = [g for g, _ in await admin.list_consumer_groups() if g.startswith(GROUP_PREFIX)]
        await delete_groups(admin, sorted(groups))
        if TOPIC in await admin.list_topics():
            await admin.delete_topics([TOPIC])
        deadline = time.monotonic() + 60
        while TOPIC in await admin.list_topics():
            if time.monotonic() > deadline:
                raise SystemExit(f"{TOPIC} was not deleted within 60 s")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def set_up(groups: int, partitions: int) -> None:
    """The topic with `RECORDS_PER_PARTITION` records per partition; group i commits offset
    2·i (modulo the records) on every partition, so each group starts with its own lag."""
    await clean_up()
    print(f"creating {TOPIC} ({partitions} partitions) and {groups} groups…", flush=True)
    await fill_topic(
        BOOTSTRAP,
        TOPIC,
        RECORDS_PER_PARTITION * partitions,
        size=100,
        dead_letter=False,
        partitions=partitions,
    )
    gate = asyncio.Semaphore(8)

    async def commit(index: int, group: str) -> None:
        async with gate:
            await commit_offsets(
                BOOTSTRAP,
                group,
                TOPIC,
                dict.fromkeys(range(partitions), 2 * index % RECORDS_PER_PARTITION),
            )

    await asyncio.gather(*(commit(i, g) for i, g in enumerate(group_names(groups))))


def quiet_kafka_retries() -> None:
    # A new topic's leaders settle for a moment; aiokafka retries and warns each time.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


# -- the load process: producing, and half of the groups consuming ---------------------


def run_load(groups: int, partitions: int, stop: Any) -> None:
    """Entry point of the load process (spawned, so it shares nothing with Qt)."""
    quiet_kafka_retries()
    asyncio.run(_load(groups, partitions, stop))


async def _load(groups: int, partitions: int, stop: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks=1, linger_ms=20)
    reader = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    tps = [TopicPartition(TOPIC, p) for p in range(partitions)]
    # Committing without joining (no members), as `commit_offsets` does, kept open.
    consuming = [
        AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=g, enable_auto_commit=False)
        for g in group_names(groups)[::2]
    ]
    await producer.start()
    await reader.start()
    for consumer in consuming:
        await consumer.start()
        consumer.assign(tps)
    try:
        next_commit = time.monotonic() + COMMIT_EVERY_S
        sent = 0
        while not stop.is_set():
            for p in range(partitions):
                await producer.send(TOPIC, f"load-{sent}".encode(), partition=p)
            sent += 1
            await producer.flush()
            if time.monotonic() >= next_commit:
                next_commit += COMMIT_EVERY_S
                ends = await reader.end_offsets(tps)
                for i, consumer in enumerate(consuming):
                    # Catch up to a little behind the end: lag falls, then grows again.
                    await consumer.commit({tp: max(0, end - 5 * i) for tp, end in ends.items()})
            await asyncio.sleep(partitions / PRODUCED_PER_SECOND)
    finally:
        for consumer in consuming:
            await consumer.stop()
        await reader.stop()
        await producer.stop()


class LoadProcess:
    def __init__(self, groups: int, partitions: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._process = context.Process(
            target=run_load, args=(groups, partitions, self._stop), name="bench-monitor-load"
        )

    def start(self) -> None:
        self._process.start()

    def stop(self) -> None:
        if self._process.pid is None:  # never started
            return
        self._stop.set()
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)


# -- what is measured inside the window ---------------------------------------------------


@dataclass
class Timings:
    """Wall seconds and process CPU seconds of each call of one instrumented method.

    In arrays of doubles, not lists of floats: some 500 calls a minute kept as Python
    floats and tuples were about 3,000 of the Python blocks the RSS lines count as grown.
    """

    wall: array.array[float] = field(default_factory=lambda: array.array("d"))
    cpu: array.array[float] = field(default_factory=lambda: array.array("d"))
    begun: array.array[float] = field(default_factory=lambda: array.array("d"))  # perf_counter

    def add(self, begun: float, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.begun.append(begun)

    def overlaps(self, start: float, end: float) -> bool:
        return any(b < end and b + w > start for b, w in zip(self.begun, self.wall, strict=True))


def time_async(owner: type, name: str, timings: Timings) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return await original(self, *args, **kwargs)
        finally:
            timings.add(wall, time.perf_counter() - wall, time.process_time() - cpu)

    setattr(owner, name, timed)


def time_sync(
    owner: type,
    name: str,
    timings: Timings,
    only_if: Callable[[Any], int] | None = None,
    cpu_clock: Callable[[], float] = time.process_time,
) -> None:
    """Times calls; with `only_if`, only those that changed it (e.g. a redraw counter).

    Calls that run in a worker thread pass `time.thread_time` as `cpu_clock`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = only_if(self) if only_if else None
        wall, cpu = time.perf_counter(), cpu_clock()
        try:
            return original(self, *args, **kwargs)
        finally:
            if only_if is None or only_if(self) != before:
                timings.add(wall, time.perf_counter() - wall, cpu_clock() - cpu)

    setattr(owner, name, timed)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def native_memory() -> str:
    """Where the process's memory is: anonymous against file-backed pages (/proc), and of
    glibc's heap what is in use against what is free but kept (mallinfo2). Tells a leak
    (in use grows) from fragmentation (free grows), and both from mapped files."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    anon, file = (int(status[k].split()[0]) / 1024 for k in ("RssAnon", "RssFile"))
    text = f"anon {anon:.0f} MB, files {file:.0f} MB"
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return text
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    in_use = (info.uordblks + info.hblkhd) / 2**20
    return f"{text}; malloc in use {in_use:.1f} MB, free kept {info.fordblks / 2**20:.1f} MB"


def object_census() -> Counter[str]:
    """Objects the cyclic collector tracks, by type (frozen start-up objects left out)."""
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def print_census_growth(later: Counter[str], earlier: Counter[str], top: int = 12) -> None:
    grown = Counter({k: later[k] - earlier[k] for k in later.keys() | earlier.keys()})
    print(
        f"Objects the collector tracks, minute 1 to the end: {earlier.total():,} → "
        f"{later.total():,}; most grown types:"
    )
    for name, count in grown.most_common(top):
        if count > 0:
            print(f"  {count:+,}  {name}")


def print_grown_memory(snapshot: tracemalloc.Snapshot, top: int = 12) -> None:
    """`--trace-memory`: what was allocated after minute 1 and is still alive, by where."""
    stats = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    grouped = stats.statistics("traceback")
    total = sum(stat.size for stat in grouped)
    print(f"Alive at the end, allocated after minute 1: {total / 2**20:.1f} MB in Python objects")
    for stat in grouped[:top]:
        frames = " < ".join(
            f"{Path(frame.filename).name}:{frame.lineno}" for frame in reversed(stat.traceback[-4:])
        )
        print(f"  {stat.size / 2**10:8.0f} KiB in {stat.count:7,} blocks: {frames}")


def print_growth(later: tracemalloc.Snapshot, earlier: tracemalloc.Snapshot, top: int = 12) -> None:
    """`--trace-memory`: what grew between the middle minute and the end, by where: what
    keeps piling up once the windows (health, rates, charts) are full."""
    ours = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = later.filter_traces(ours).compare_to(earlier.filter_traces(ours), "traceback")
    grown = [stat for stat in diff if stat.size_diff > 0]
    total = sum(stat.size_diff for stat in diff)
    print(f"Grew from the middle minute to the end: {total / 2**20:+.2f} MB net; largest growth:")
    for stat in grown[:top]:
        frames = " < ".join(
            f"{Path(frame.filename).name}:{frame.lineno}" for frame in reversed(stat.traceback)
        )
        print(f"  {stat.size_diff / 2**10:+8.0f} KiB, {stat.count_diff:+7,} blocks: {frames}")


# Heartbeat lateness is counted in buckets of 0.1 ms up to 5 s (later ones in the last):
# a list of every lateness grew by 12,000 floats a minute, and the RSS figure with it.
GAP_BUCKET_MS = 0.1
GAP_BUCKETS = 50_000


class MinuteStallMonitor(StallMonitor):
    """The heartbeat of the other benchmark, with the worst stall kept per minute."""

    def __init__(self) -> None:
        super().__init__()
        self.per_minute: list[float] = [0.0]
        self.long: list[tuple[float, float]] = []  # (start, end) of each gap over 50 ms
        self.gap_counts = [0] * GAP_BUCKETS  # heartbeats by lateness, for percentiles
        self.last_tick = time.perf_counter()

    def new_minute(self) -> None:
        self.per_minute.append(0.0)

    def percentile_ms(self, fraction: float) -> float:
        """The lateness `fraction` of the heartbeats were within, to a bucket."""
        total = sum(self.gap_counts)
        rank = min(total - 1, int(total * fraction))
        seen = 0
        for bucket, count in enumerate(self.gap_counts):
            seen += count
            if seen > rank:
                return bucket * GAP_BUCKET_MS
        return 0.0

    def _on_timer_timeout(self) -> None:
        gap = self._clock.nsecsElapsed() / 1e6 - self.INTERVAL_MS
        self.last_tick = time.perf_counter()
        super()._on_timer_timeout()
        self.per_minute[-1] = max(self.per_minute[-1], gap)
        self.gap_counts[min(int(max(0.0, gap) / GAP_BUCKET_MS), GAP_BUCKETS - 1)] += 1
        if gap > 50:
            end = time.perf_counter()
            self.long.append((end - (gap + self.INTERVAL_MS) / 1000, end))


# Innermost frames of a thread waiting, not running Python.
_IDLE = ("threading.py:wait", "selectors.py:select", "queue.py:get", "thread.py:_worker")


class StallStacks:
    """`--stall-stacks`: while the heartbeat is late, sample the UI thread's Python stack.

    A thread looks every 2 ms; once the last tick is over 25 ms old it records the UI
    thread's innermost frames. Samples of a stall that ends over 50 ms late are kept, so
    the report can say where the UI thread was (a frame of qasync's or Qt's loop means
    Qt was busy in C++ with no Python callback on the stack).
    """

    DEPTH = 6

    def __init__(self, stalls: MinuteStallMonitor) -> None:
        self._stalls = stalls
        self._ui_thread = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-stacks", daemon=True)
        self.per_stall: list[Counter[str]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        current: Counter[str] = Counter()
        began = 0.0
        while not self._stop.wait(0.002):
            tick = self._stalls.last_tick
            late = time.perf_counter() - tick
            if late > 0.025:
                frames = sys._current_frames()
                frame = frames.pop(self._ui_thread, None)
                frames.pop(threading.get_ident(), None)
                if frame is not None:
                    if not current:
                        began = tick
                    current[self._where(frame)] += 1
                    # Other threads in Python meanwhile: each holds the GIL the UI thread
                    # takes back after every Qt call.
                    for other in frames.values():
                        where = self._where(other, depth=2)
                        if not where.startswith(_IDLE):
                            current[f"(other thread) {where}"] += 1
            elif current:
                if self._stalls.last_tick - began > 0.055 + StallMonitor.INTERVAL_MS / 1000:
                    self.per_stall.append(current)
                current = Counter()

    def _where(self, frame: Any, depth: int = DEPTH) -> str:
        stack = traceback.extract_stack(frame, limit=depth)
        return " < ".join(f"{Path(f.filename).name}:{f.name}:{f.lineno}" for f in reversed(stack))

    def summary(self, top: int = 12) -> str:
        """The stacks seen most often, counting each stall once per stack."""
        seen: Counter[str] = Counter()
        for stall in self.per_stall:
            seen.update(stall.keys())
        lines = [
            f"  {count} of {len(self.per_stall)} stalls: {where}"
            for where, count in seen.most_common(top)
        ]
        return "\n".join(lines)


@dataclass
class Instruments:
    rounds: Timings = field(default_factory=Timings)  # the sampler's loop: query + snapshot
    snapshots: Timings = field(default_factory=Timings)  # the Monitor's handling, all of it
    # ... of which on the UI thread, in three turns: the table, the lag chart, the DLQ charts
    applies: Timings = field(default_factory=Timings)
    store: Timings = field(default_factory=Timings)  # ... of which in the store's thread
    redraws: Timings = field(default_factory=Timings)  # chart timer ticks that called setData
    paints: Timings = field(default_factory=Timings)  # chart paints
    full_gcs: Timings = field(default_factory=Timings)  # full (generation 2) collections
    _gc_started: tuple[float, float] = (0.0, 0.0)

    def install(self) -> None:
        """Wrap the sampler's round, the Monitor's snapshot handling and the charts' drawing
        (before the window exists: Qt keeps the bound methods it was given)."""
        time_async(sampling._Worker, "_round", self.rounds)
        time_async(MonitorView, "_on_sampler_snapshot", self.snapshots)
        for turn in ("_apply", "_update_lag_chart", "_update_dlq_charts"):
            time_sync(MonitorView, turn, self.applies)
        time_sync(MetricsStore, "add", self.store, cpu_clock=time.thread_time)
        time_sync(LagChartWidget, "_on_timer_timeout", self.redraws, lambda c: c.redraws)
        time_sync(pg.PlotWidget, "paintEvent", self.paints)
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_started = (time.perf_counter(), time.process_time())
            return
        begun, cpu = self._gc_started
        self.full_gcs.add(begun, time.perf_counter() - begun, time.process_time() - cpu)

    def blamed(self, start: float, end: float) -> str:
        """What ran on the UI thread during a stall."""
        found = [
            name
            for name, timings in (
                ("snapshot apply", self.applies),
                ("chart redraw", self.redraws),
                ("chart paint", self.paints),
                ("full GC", self.full_gcs),
            )
            if timings.overlaps(start, end)
        ]
        return " + ".join(found) or "other"


def ours(snapshot: Snapshot, groups: int) -> dict[tuple[str, int], float]:
    """(group, partition) -> lag, for the benchmark's groups in one snapshot."""
    wanted = set(group_names(groups))
    return {
        (s.group, s.partition): s.value
        for s in snapshot.samples
        if s.metric is Metric.LAG and s.group in wanted and s.partition is not None
    }


@dataclass
class WindowFigures:
    wall_s: float
    process_cpu_s: float
    control_stall_ms: float  # worst stall before the Monitor was shown
    stalls: MinuteStallMonitor
    rss_mb: list[float]  # at the start, then after each minute
    groups_seen: int
    partitions_seen: int
    lag_moved: bool
    shown_at: float = 0.0  # perf_counter when the Monitor was shown
    stacks: StallStacks | None = None


async def measure_window(args: argparse.Namespace, timings: Instruments) -> WindowFigures:
    profile = ConnectionProfile(CONNECTION, BrokerKind.KAFKA, {"bootstrap_servers": BOOTSTRAP})
    window = MainWindow([profile])
    window.resize(1400, 900)
    window.show()
    process = psutil.Process()
    await wait_until(
        lambda: window.tree_model.state(CONNECTION) is ConnectionState.CONNECTED,
        timeout=30,
        what="the connection and its endpoint list",
    )
    await asyncio.sleep(0.5)
    # What the app does 5 s after launch (its one full collection, ~100 ms), done here
    # before the control so that it does not land in it.
    settle_start_up()

    # Control: the same window and load, Monitor not shown yet. What the machine alone
    # costs the UI loop (2 shared CPUs: the broker, the load, other work).
    control = StallMonitor()
    control.start()
    await asyncio.sleep(args.control)
    control.stop()

    monitor = window.monitor
    monitor.interval_spin.setValue(args.interval)
    stalls = MinuteStallMonitor()
    stacks = StallStacks(stalls) if args.stall_stacks else None
    rss = [process.memory_info().rss / 2**20]
    cpu_start, started = time.process_time(), time.perf_counter()
    stalls.start()
    if stacks is not None:
        stacks.start()
    window.show_monitor()
    await wait_until(lambda: monitor.snapshots_seen > 0, timeout=60, what="the first sample")
    first = monitor.sampler.latest(CONNECTION) if monitor.sampler else None
    minutes = int(args.duration // 60)
    middle, halfway = max(2, minutes // 2), None
    census: Counter[str] | None = None
    for minute in range(1, minutes + 1):
        await asyncio.sleep(started + 60 * minute - time.perf_counter())
        if args.trim:
            trimmed_from = process.memory_info().rss / 2**20
            trim_heap()  # what the app does each minute (gui/heap_trim.py)
        rss.append(process.memory_info().rss / 2**20)
        if args.trim:
            print(f"  minute {minute}: malloc_trim took RSS {trimmed_from:.1f} → {rss[-1]:.1f} MB")
        if minute == 1 and args.trace_memory:
            tracemalloc.start(8)
        if minute == middle and tracemalloc.is_tracing():
            halfway = tracemalloc.take_snapshot()
        if minute == 1 and args.census:
            census = object_census()
        if 60 * minute < args.duration - 1:  # a minute follows
            stalls.new_minute()
        rounds = len(timings.rounds.wall)
        print(
            f"  minute {minute}: RSS {rss[-1]:.0f} MB, "
            f"{sys.getallocatedblocks():,} Python blocks, {rounds} rounds so far; "
            f"{native_memory()}",
            flush=True,
        )
    await asyncio.sleep(max(0.0, started + args.duration - time.perf_counter()))
    stalls.stop()
    if census is not None:
        print_census_growth(object_census(), census)
    if tracemalloc.is_tracing():
        end = tracemalloc.take_snapshot()
        print_grown_memory(end)
        if halfway is not None:
            print_growth(end, halfway)
        tracemalloc.stop()
    if stacks is not None:
        stacks.stop()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_start
    last = monitor.sampler.latest(CONNECTION) if monitor.sampler else None
    if first is None or last is None or last.stale:
        raise SystemExit(f"the sampler has no good snapshot at the end: {last and last.error}")
    first_lags, last_lags = ours(first, args.groups), ours(last, args.groups)
    window.close()
    await window.wait_closed()
    return WindowFigures(
        wall_s=wall,
        process_cpu_s=cpu,
        control_stall_ms=control.worst_ms,
        stalls=stalls,
        rss_mb=rss,
        groups_seen=len(last.group_states),
        partitions_seen=len(last_lags),
        lag_moved=first_lags != last_lags,
        shown_at=started,
        stacks=stacks,
    )


# -- the reference: Kafka's own consumer-groups tool on the same interval ---------------


@dataclass
class ReferenceFigures:
    wall: list[float]
    cpu: list[float]  # user + system seconds of the JVM
    rows: int  # our (group, partition) rows in the last round's output


def reference_rounds(rounds: int, interval: float, groups: int) -> ReferenceFigures | None:
    if not (KAFKA_TOOLS / ".complete").exists():
        return None
    command = [
        "java",
        "-cp",
        f"{KAFKA_TOOLS}/*",
        GROUP_COMMAND,
        "--bootstrap-server",
        BOOTSTRAP,
        "--describe",
        "--all-groups",
    ]
    wall, cpu, rows = [], [], 0
    for _ in range(rounds):
        begun = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:  # keep the Eventdesk figures: report the reference as failed
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"kafka-consumer-groups failed ({done.returncode}): {last}", flush=True)
            return None
        out = done.stdout
        wall.append(time.perf_counter() - begun)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        wanted = set(group_names(groups))
        rows = sum(1 for line in out.splitlines() if line.split(" ", 1)[0] in wanted)
        time.sleep(max(0.0, begun + interval - time.perf_counter()))
    return ReferenceFigures(wall, cpu, rows)


# -- the report ----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def spread(values: Sequence[float]) -> str:
    """Mean, 95th percentile and worst, in ms."""
    if not values:
        return "none"
    p95 = sorted(values)[max(0, round(len(values) * 0.95) - 1)]
    return f"{ms(statistics.fmean(values))} (p95 {ms(p95)}, worst {ms(max(values))})"


def stall_causes(stalls: MinuteStallMonitor, timings: Instruments) -> str:
    """How many stalls over 50 ms overlapped each kind of UI-thread work."""
    counts: dict[str, int] = {}
    for start, end in stalls.long:
        blamed = timings.blamed(start, end)
        counts[blamed] = counts.get(blamed, 0) + 1
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items(), key=lambda c: -c[1]))


def report(
    args: argparse.Namespace, w: WindowFigures, t: Instruments, ref: ReferenceFigures | None
) -> None:
    rounds = len(t.rounds.wall)
    sampler_cpu = sum(t.rounds.cpu)
    with_view = sampler_cpu + sum(t.snapshots.cpu)
    drawing = sum(t.redraws.wall) + sum(t.paints.wall)
    rss = " → ".join(f"{mb:.0f}" for mb in w.rss_mb)
    rows = [
        Row(
            "round wall time (Eventdesk: sampler query + snapshot)",
            spread(t.rounds.wall),
            spread(ref.wall) if ref else "kafka-tools missing (run run.sh)",
            f"< {args.interval:g} s",
        ),
        Row(
            "CPU per round",
            f"{ms(statistics.fmean(t.rounds.cpu))} sampler + "
            f"{ms(statistics.fmean(t.snapshots.cpu))} Monitor view handling it",
            f"{ms(statistics.fmean(ref.cpu))} (JVM user + sys)" if ref else "",
            "",
        ),
        Row(
            "sampler CPU share (CPU in rounds / wall)",
            f"{sampler_cpu / w.wall_s:.1%}; with the view's handling {with_view / w.wall_s:.1%};"
            f" whole process {w.process_cpu_s / w.wall_s:.1%}",
            "",
            "",
        ),
        Row("snapshot applied to the view (UI thread), per turn", spread(t.applies.wall), "", ""),
        Row("samples written to the history (its thread)", spread(t.store.wall), "", ""),
        Row(
            "chart redraw, per timer tick that redrew",
            f"{spread(t.redraws.wall)}; {len(t.redraws.wall)} ticks",
            "",
            "",
        ),
        Row(
            "chart paint, per paint",
            f"{spread(t.paints.wall)}; {len(t.paints.wall)} paints; "
            f"redraw + paint {drawing / w.wall_s:.1%} of wall",
            "",
            "",
        ),
        Row("full garbage collection (UI thread)", spread(t.full_gcs.wall), "", ""),
        Row(
            "worst UI event-loop stall",
            f"{w.stalls.worst_ms:,.0f} ms (worst per minute: "
            + ", ".join(f"{m:,.0f}" for m in w.stalls.per_minute if m)
            + f"; {len(w.stalls.long)} stalls over 50 ms;"
            f" p99 {w.stalls.percentile_ms(0.99):,.0f} ms,"
            f" p99.9 {w.stalls.percentile_ms(0.999):,.0f} ms)",
            "",
            "≤ 50 ms",
        ),
        Row(
            f"worst stall, control: {args.control:g} s before the Monitor was shown",
            f"{w.control_stall_ms:,.0f} ms",
            "",
            "",
        ),
        Row("RSS at start, then each minute", f"{rss} MB", "", "flat after minute 1"),
    ]
    title = (
        f"Monitor: {args.groups} groups × {args.partitions} partitions, every "
        f"{args.interval:g} s for {w.wall_s:.0f} s ({rounds} rounds)"
    )
    print_table(title, rows, reference="kafka-consumer-groups")
    print(
        f"\nPer round: {w.groups_seen} groups in the cluster sampled; "
        f"{w.partitions_seen} (group, partition) lags of the benchmark's groups; "
        f"lag moved between first and last round: {w.lag_moved}."
    )
    if w.stalls.long:
        print(f"Stalls over 50 ms, by what ran meanwhile: {stall_causes(w.stalls, t)}.")
        when = ", ".join(
            f"{start - w.shown_at:.1f} s ({(end - start) * 1000:.0f} ms)"
            for start, end in w.stalls.long
        )
        print(f"Stalls over 50 ms, when (after the Monitor was shown): {when}.")
    if w.stacks is not None and w.stacks.per_stall:
        print(f"Where the UI thread was during stalls over 50 ms:\n{w.stacks.summary()}")
    if ref:
        print(
            f"Reference: {len(ref.wall)} rounds of {GROUP_COMMAND} after the window closed, "
            f"same load running; {ref.rows} benchmark rows in its last output."
        )


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=positive(float), default=300.0, help="seconds")
    parser.add_argument("--interval", type=positive(float), default=2.0, help="between rounds")
    parser.add_argument("--groups", type=positive(int), default=50)
    parser.add_argument("--partitions", type=positive(int), default=100)
    parser.add_argument("--reference-rounds", type=positive(int), default=15)
    parser.add_argument("--control", type=positive(float), default=30.0, help="seconds idle")
    parser.add_argument(
        "--stall-stacks",
        action="store_true",
        help="sample the UI thread's stack during stalls and print where it was",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="count the collector's objects by type at minute 1 and at the end; print the "
        "types that grew (cheap beside --trace-memory, which halves the round rate)",
    )
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="trace allocations from minute 1 on; print where what is still alive was made, "
        "and what grew from the middle minute to the end",
    )
    parser.add_argument(
        "--trim",
        action="store_true",
        help="before each minute's RSS, hand glibc's free heap back (malloc_trim): what is "
        "left of the growth is memory in use, not kept free",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the UI thread (the window) here"
    )
    args = parser.parse_args()

    data = tempfile.TemporaryDirectory(prefix="eventdesk-bench-monitor-")
    os.environ["EVENTDESK_CONFIG_DIR"] = f"{data.name}/config"  # no history from elsewhere
    os.environ["EVENTDESK_DATA_DIR"] = f"{data.name}/data"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the app is made
    quiet_kafka_retries()
    load = LoadProcess(args.groups, args.partitions)
    try:
        asyncio.run(set_up(args.groups, args.partitions))
        load.start()
        timings = Instruments()
        timings.install()
        app = QApplication.instance() or QApplication([])
        configure_application(app)
        collector = GuiThreadGarbageCollector()  # as the app runs: collections on the UI thread
        collector.start()
        trimmer = HeapTrimmer()  # as the app runs: glibc's free heap handed back each minute
        trimmer.start()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()  # the UI thread only: the loop, the view, the charts
        figures = qasync.run(measure_window(args, timings))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        collector.stop()
        trimmer.stop()
        print(
            f"heap trims (gui/heap_trim.py): {trimmer.trims}, worst {trimmer.worst_ms:.1f} ms "
            "on their thread",
            flush=True,
        )
        print("running the reference…", flush=True)
        reference = reference_rounds(args.reference_rounds, args.interval, args.groups)
    finally:
        load.stop()
        asyncio.run(clean_up())
        data.cleanup()
    report(args, figures, timings, reference)


if __name__ == "__main__":
    main()
