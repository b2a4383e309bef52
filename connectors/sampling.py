"""Live monitoring samples: what each broker reports on an interval, gathered per connection.

The adapters report broker facts (`KafkaLagReport`, `QueueStats`); the `Sampler` turns
them into flat `Sample`s, keeps the last values when a broker goes away, and backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Protocol, Self

from .base import Connector
from .dlq_inflow import InflowRate
from .errors import CONNECTION_ERRORS
from .health import GroupHistory, Health, HealthPoint
from .model import BrokerKind
from .sliding_window import SlidingWindow


class Metric(enum.StrEnum):
    # Kafka, per group, topic and partition (and summed per topic with partition None).
    LAG = "lag"
    # NATS JetStream, per durable consumer: its ack floor.
    COMMITTED = "committed"
    LAG_SECONDS = "lag_seconds"
    # Kafka, per group.
    MEMBERS = "members"
    # Any broker, per dead-letter endpoint: messages not yet handled.
    DLQ_DEPTH = "dlq_depth"
    # Any broker, per dead-letter endpoint: messages per minute arriving (from depth rises).
    DLQ_INFLOW = "dlq_inflow"
    # RabbitMQ, per queue.
    READY = "ready"
    UNACKED = "unacked"
    CONSUMERS = "consumers"
    PUBLISH_RATE = "publish_rate"
    DELIVER_RATE = "deliver_rate"
    ACK_RATE = "ack_rate"
    # SQS, per queue.
    VISIBLE = "visible"
    IN_FLIGHT = "in_flight"
    DELAYED = "delayed"
    # NATS JetStream, per stream (endpoint) and durable consumer (group); LAG is num_pending.
    ACK_PENDING = "ack_pending"


class Reachability(enum.StrEnum):
    OK = "ok"
    UNREACHABLE = "unreachable"  # the link is gone; values shown are the last ones seen
    FAILED = "failed"  # the broker answered with an error (credentials, permissions, ...)


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series at one moment. `at` is Unix time in seconds."""

    connection: str
    kind: BrokerKind
    endpoint: str
    group: str | None
    partition: int | None
    metric: Metric
    value: float
    at: float

    @property
    def series(self) -> SeriesKey:
        return SeriesKey(
            self.connection, self.endpoint, self.group or "", self.partition, self.metric
        )


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What identifies one time series in the store and in charts."""

    connection: str
    endpoint: str
    group: str  # "" when the series belongs to no group
    partition: int | None
    metric: Metric


# -- what the adapters report ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True, slots=True)
class GroupLag:
    """A consumer group: its state, live members and committed position per partition."""

    group: str
    state: str  # Stable, Empty, PreparingRebalance, ... as the broker says
    members: int
    partitions: tuple[PartitionLag, ...] = ()

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed(self) -> int:
        return sum(p.committed for p in self.partitions)


@dataclass(frozen=True, slots=True)
class KafkaLagReport:
    groups: tuple[GroupLag, ...]
    # Dead-letter topic -> records not yet handled (end − review group, else end − start).
    dlq_depths: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue's counters and rates; a metric the broker did not report is absent."""

    queue: str
    metrics: Mapping[Metric, float]

    @property
    def depth(self) -> float:
        """Messages on the queue, delivered or not (RabbitMQ ready + unacked, SQS visible +
        in flight)."""
        m = self.metrics
        return (
            m.get(Metric.READY, 0)
            + m.get(Metric.UNACKED, 0)
            + m.get(Metric.VISIBLE, 0)
            + m.get(Metric.IN_FLIGHT, 0)
        )


@dataclass(frozen=True, slots=True)
class ConsumerLag:
    """A JetStream durable consumer: not yet delivered, delivered but unacked, ack floor."""

    stream: str
    consumer: str
    num_pending: int
    ack_pending: int
    ack_floor: int  # stream sequence every message up to which is acked (or given up)
    waiting: int = 0  # pull requests waiting, plus one for a bound push subscriber


@dataclass(frozen=True, slots=True)
class JetStreamLagReport:
    consumers: tuple[ConsumerLag, ...]
    # Dead-letter endpoint ("STREAM/consumer") -> advisories not yet handled.
    dlq_depths: Mapping[str, int] = field(default_factory=dict)


class _LagSource(Protocol):
    async def consumer_group_lag(
        self, *, dead_letter_topics: Iterable[str] = (), timeout: float = 10.0
    ) -> KafkaLagReport: ...


class _QueueSource(Protocol):
    async def queue_stats(self, *, timeout: float = 10.0) -> list[QueueStats]: ...


class _JetStreamSource(Protocol):
    async def consumer_lag(self, *, timeout: float = 10.0) -> JetStreamLagReport: ...


# -- one sampling round ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one connection reported in one round.

    When the broker is unreachable, `samples` are the last ones seen (their `at` tells
    when) and `reachability` says why they are stale.
    """

    connection: str
    kind: BrokerKind
    at: float
    reachability: Reachability
    samples: tuple[Sample, ...]
    # Kafka: consumer group -> state as the broker said ("Stable", "Empty", ...).
    group_states: Mapping[str, str] = field(default_factory=dict)
    # Kafka: consumer group -> health over the sampler's window.
    health: Mapping[str, Health] = field(default_factory=dict)
    error: str | None = None
    failures: int = 0  # consecutive failed rounds

    @property
    def stale(self) -> bool:
        return self.reachability is not Reachability.OK

    def value(
        self,
        metric: Metric,
        endpoint: str,
        *,
        group: str | None = None,
        partition: int | None = None,
    ) -> float | None:
        for sample in self.samples:
            if (
                sample.metric is metric
                and sample.endpoint == endpoint
                and sample.group == group
                and sample.partition == partition
            ):
                return sample.value
        return None


ConnectorFactory = Callable[[], Connector]
_GROUPS_PER_TURN = 10  # Kafka groups turned into samples between two event loop turns
SnapshotCallback = Callable[[Snapshot], Awaitable[None] | None]


class Sampler:
    """Samples every connection concurrently on an interval, one task per connection.

    The sampler opens its own connectors from the factories, so sampling never shares a
    link with browsing or replay; after a link error it closes that connector and opens a
    fresh one on the next round. Errors never leave the loop: they become an unreachable
    (or failed) snapshot holding the last values, and the next round waits twice as long,
    up to `max_backoff`.

    Read snapshots with `async for snapshot in sampler`, or pass `on_snapshot`.
    """

    def __init__(
        self,
        connections: Mapping[str, ConnectorFactory],
        *,
        interval: float = 5.0,
        window: float = 300.0,
        max_backoff: float = 60.0,
        timeout: float = 10.0,
        dead_letters: Mapping[str, Iterable[str]] | None = None,
        discover_every: float = 300.0,
        on_snapshot: SnapshotCallback | None = None,
        buffer: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._factories = dict(connections)
        self.interval = interval
        self.window = window
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._given_dead_letters = {k: frozenset(v) for k, v in (dead_letters or {}).items()}
        self._discover_every = discover_every
        self._on_snapshot = on_snapshot
        self._clock = clock
        self._queue: asyncio.Queue[Snapshot] = asyncio.Queue(maxsize=buffer)
        # With an observer, snapshots are queued only once someone reads the queue: nobody
        # else would, and a full queue of large rounds is memory kept for nothing (1 MB per
        # round for 50 groups x 100 partitions: the Monitor benchmark grew 36 MB a minute).
        self._queueing = on_snapshot is None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._latest: dict[str, Snapshot] = {}
        self._closed = False
        self._wake: dict[str, asyncio.Event] = {}

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._closed:
            raise RuntimeError("a closed sampler cannot start again")
        for name in self._factories:
            if name not in self._tasks:
                self._wake[name] = asyncio.Event()
                self._tasks[name] = asyncio.create_task(
                    _Worker(self, name).run(), name=f"eventdesk-sampler:{name}"
                )

    async def close(self) -> None:
        """Stop every loop and close the sampler's connectors. Idempotent."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- reading -----------------------------------------------------------------------

    def latest(self, connection: str) -> Snapshot | None:
        return self._latest.get(connection)

    def set_interval(self, seconds: float) -> None:
        """Applies from the next round; a waiting loop wakes up now."""
        if seconds <= 0:
            raise ValueError("interval must be positive")
        self.interval = seconds
        for event in self._wake.values():
            event.set()

    def __aiter__(self) -> AsyncIterator[Snapshot]:
        self._queueing = True
        return self._snapshots()

    async def _snapshots(self) -> AsyncIterator[Snapshot]:
        while True:
            yield await self._queue.get()

    async def next_snapshot(self, *, timeout: float | None = None) -> Snapshot:
        self._queueing = True
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    async def _publish(self, snapshot: Snapshot) -> None:
        self._latest[snapshot.connection] = snapshot
        if self._queueing:
            if self._queue.full():
                # A reader that fell behind loses the oldest rounds, never the newest.
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
            self._queue.put_nowait(snapshot)
        if self._on_snapshot is not None:
            try:
                result = self._on_snapshot(snapshot)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a faulty observer must not stop sampling
                pass


class _Worker:
    """The loop for one connection: its connector, its history for rates and health."""

    def __init__(self, sampler: Sampler, name: str) -> None:
        self.sampler = sampler
        self.name = name
        self.connector: Connector | None = None
        self.kind: BrokerKind | None = None
        self.last_good: Snapshot | None = None
        self.failures = 0
        self.dead_letters: frozenset[str] = sampler._given_dead_letters.get(name, frozenset())
        self.discovered_at = -math.inf
        # (group, topic) -> recent (at, committed) for the consumption rate.
        self.progress: dict[tuple[str, str], SlidingWindow] = {}
        # group -> recent health points.
        self.points: dict[str, GroupHistory] = {}
        # dead-letter endpoint -> its recent depths, for the inflow rate.
        self.inflow: dict[str, InflowRate] = {}

    async def run(self) -> None:
        s = self.sampler
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                snapshot = await self._round()
                await s._publish(snapshot)
                delay = s.interval
                if self.failures:
                    delay = min(s.max_backoff, s.interval * 2 ** (self.failures - 1))
                wake = s._wake[self.name]
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, delay - (loop.time() - started))):
                        await wake.wait()
        finally:
            await self._drop_connector()

    async def _round(self) -> Snapshot:
        s = self.sampler
        try:
            async with asyncio.timeout(s.timeout * 3):
                if self.connector is None:
                    connector = s._factories[self.name]()
                    self.kind = connector.kind
                    try:
                        await connector.connect(timeout=s.timeout)
                    except BaseException:
                        with contextlib.suppress(Exception):
                            await connector.close()
                        raise
                    self.connector = connector
                snapshot = self._with_inflow(await self._sample(self.connector))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            unreachable = isinstance(exc, (*CONNECTION_ERRORS, TimeoutError, OSError))
            if unreachable:
                await self._drop_connector()
            return self._failed(exc, unreachable)
        self.failures = 0
        self.last_good = snapshot
        return snapshot

    def _failed(self, exc: Exception, unreachable: bool) -> Snapshot:
        now = self.sampler._clock()
        reachability = Reachability.UNREACHABLE if unreachable else Reachability.FAILED
        last = self.last_good
        health: dict[str, Health] = {}
        if last is not None:
            for group in last.health:
                health[group] = self._judge(group, HealthPoint(at=now, reachable=False))
        message = str(exc) or type(exc).__name__
        kind = self.kind or (last.kind if last else BrokerKind.KAFKA)
        return Snapshot(
            connection=self.name,
            kind=kind,
            at=now,
            reachability=reachability,
            samples=last.samples if last else (),
            group_states=last.group_states if last else {},
            health=health,
            error=message,
            failures=self.failures,
        )

    async def _drop_connector(self) -> None:
        connector, self.connector = self.connector, None
        if connector is not None:
            with contextlib.suppress(Exception):
                await connector.close()

    async def _sample(self, connector: Connector) -> Snapshot:
        s = self.sampler
        if (
            self.name not in s._given_dead_letters
            and s._clock() - self.discovered_at >= s._discover_every
        ):
            await self._discover(connector)
        if connector.kind is BrokerKind.KAFKA:
            return await self._sample_kafka(connector)  # type: ignore[arg-type]
        if connector.kind is BrokerKind.NATS:
            return await self._sample_nats(connector)  # type: ignore[arg-type]
        return await self._sample_queues(connector)  # type: ignore[arg-type]

    async def _discover(self, connector: Connector) -> None:
        """Learn which endpoints are dead-letter queues; best effort, refreshed rarely."""
        self.discovered_at = self.sampler._clock()
        with contextlib.suppress(Exception):
            endpoints = await connector.list_endpoints(timeout=self.sampler.timeout)
            self.dead_letters = frozenset(e.name for e in endpoints if e.is_dead_letter)

    async def _sample_kafka(self, connector: _LagSource) -> Snapshot:
        s = self.sampler
        report = await connector.consumer_group_lag(
            dead_letter_topics=self.dead_letters, timeout=s.timeout
        )
        now = s._clock()
        samples: list[Sample] = []

        def add(endpoint: str, group: str | None, partition: int | None, m: Metric, v: float):
            samples.append(
                Sample(self.name, BrokerKind.KAFKA, endpoint, group, partition, m, v, now)
            )

        health: dict[str, Health] = {}
        seen: set[str] = set()
        for i, group in enumerate(report.groups, 1):
            if i % _GROUPS_PER_TURN == 0:
                # 50 groups x 100 partitions make 5,000 samples (~20 ms): the event loop,
                # the UI's in the app, gets a turn between slices of them.
                await asyncio.sleep(0)
            seen.add(group.group)
            add("", group.group, None, Metric.MEMBERS, group.members)
            by_topic: dict[str, list[PartitionLag]] = {}
            for p in group.partitions:
                by_topic.setdefault(p.topic, []).append(p)
                # Lag only: a partition's committed offset was a sample as well, half of
                # each round, stored in the history and read by nothing.
                add(p.topic, group.group, p.partition, Metric.LAG, p.lag)
            for topic, parts in by_topic.items():
                lag = sum(p.lag for p in parts)
                committed = sum(p.committed for p in parts)
                add(topic, group.group, None, Metric.LAG, lag)
                seconds = self._lag_seconds((group.group, topic), now, committed, lag)
                if seconds is not None:
                    add(topic, group.group, None, Metric.LAG_SECONDS, seconds)
            health[group.group] = self._judge(
                group.group,
                HealthPoint(
                    at=now, committed=group.committed, lag=group.lag, members=group.members
                ),
            )
        health.update(self._judge_gone(seen, now))
        for topic, depth in sorted(report.dlq_depths.items()):
            add(topic, None, None, Metric.DLQ_DEPTH, depth)
        return Snapshot(
            connection=self.name,
            kind=BrokerKind.KAFKA,
            at=now,
            reachability=Reachability.OK,
            samples=tuple(samples),
            group_states={g.group: g.state for g in report.groups},
            health=health,
        )

    async def _sample_nats(self, connector: _JetStreamSource) -> Snapshot:
        """JetStream consumers as groups: a durable consumer is a group, its stream a topic."""
        s = self.sampler
        report = await connector.consumer_lag(timeout=s.timeout)
        now = s._clock()
        samples: list[Sample] = []

        def add(endpoint: str, group: str | None, m: Metric, v: float) -> None:
            samples.append(Sample(self.name, BrokerKind.NATS, endpoint, group, None, m, v, now))

        # A consumer name on several streams is one group, as a Kafka group over topics.
        groups: dict[str, list[ConsumerLag]] = {}
        for c in report.consumers:
            groups.setdefault(c.consumer, []).append(c)
            add(c.stream, c.consumer, Metric.LAG, c.num_pending)
            add(c.stream, c.consumer, Metric.ACK_PENDING, c.ack_pending)
            add(c.stream, c.consumer, Metric.COMMITTED, c.ack_floor)
            seconds = self._lag_seconds((c.consumer, c.stream), now, c.ack_floor, c.num_pending)
            if seconds is not None:
                add(c.stream, c.consumer, Metric.LAG_SECONDS, seconds)
        health: dict[str, Health] = {}
        states: dict[str, str] = {}
        for group, consumers in groups.items():
            waiting = sum(c.waiting for c in consumers)
            add("", group, Metric.MEMBERS, waiting)
            states[group] = "Active" if waiting else "Idle"
            health[group] = self._judge(
                group,
                HealthPoint(
                    at=now,
                    committed=sum(c.ack_floor for c in consumers),
                    # Unacked messages wait too: a consumer sitting on them is stalled.
                    lag=sum(c.num_pending + c.ack_pending for c in consumers),
                    members=waiting,
                ),
            )
        health.update(self._judge_gone(set(groups), now))
        for endpoint, depth in sorted(report.dlq_depths.items()):
            add(endpoint, None, Metric.DLQ_DEPTH, depth)
        return Snapshot(
            connection=self.name,
            kind=BrokerKind.NATS,
            at=now,
            reachability=Reachability.OK,
            samples=tuple(samples),
            group_states=states,
            health=health,
        )

    async def _sample_queues(self, connector: Any) -> Snapshot:
        s = self.sampler
        source: _QueueSource = connector
        stats = await source.queue_stats(timeout=s.timeout)
        now = s._clock()
        kind: BrokerKind = connector.kind
        samples: list[Sample] = []
        for queue in stats:
            for metric, value in queue.metrics.items():
                samples.append(Sample(self.name, kind, queue.queue, None, None, metric, value, now))
            ready = queue.metrics.get(Metric.READY)
            ack = queue.metrics.get(Metric.ACK_RATE) or queue.metrics.get(Metric.DELIVER_RATE)
            if ready is not None and ack:
                seconds = ready / ack
                samples.append(
                    Sample(
                        self.name, kind, queue.queue, None, None, Metric.LAG_SECONDS, seconds, now
                    )
                )
            if queue.queue in self.dead_letters:
                samples.append(
                    Sample(
                        self.name, kind, queue.queue, None, None, Metric.DLQ_DEPTH, queue.depth, now
                    )
                )
        return Snapshot(
            connection=self.name,
            kind=kind,
            at=now,
            reachability=Reachability.OK,
            samples=tuple(samples),
        )

    def _with_inflow(self, snapshot: Snapshot) -> Snapshot:
        """Add each DLQ's inflow (messages/min from depth rises) next to its depth."""
        rates = []
        for sample in snapshot.samples:
            if sample.metric is Metric.DLQ_DEPTH:
                inflow = self.inflow.get(sample.endpoint)
                if inflow is None:
                    inflow = self.inflow[sample.endpoint] = InflowRate(
                        expected_interval=self.sampler.interval
                    )
                rate = inflow.add(sample.at, sample.value)
                if rate is not None:
                    rates.append(replace(sample, metric=Metric.DLQ_INFLOW, value=rate))
        if not rates:
            return snapshot
        return replace(snapshot, samples=snapshot.samples + tuple(rates))

    def _judge(self, group: str, point: HealthPoint) -> Health:
        """The group's health with `point` added to its history."""
        history = self.points.get(group)
        if history is None:
            history = self.points[group] = GroupHistory(
                self.sampler.window, expected_interval=self.sampler.interval
            )
        return history.add(point)

    def _judge_gone(self, present: set[str], now: float) -> dict[str, Health]:
        """Groups seen before and missing now: their consumers stopped for good.

        A group missing for a whole window is forgotten.
        """
        health: dict[str, Health] = {}
        for gone in set(self.points) - present:
            health[gone] = self._judge(gone, HealthPoint(at=now, present=False))
            history = self.points[gone]
            if history.oldest_at() < now - self.sampler.window and not history.ever_present():
                del self.points[gone]
                # Short-lived groups (a console consumer's) come and go: forget their rates.
                for key in [k for k in self.progress if k[0] == gone]:
                    del self.progress[key]
        return health

    def _lag_seconds(
        self, key: tuple[str, str], now: float, committed: int, lag: int
    ) -> float | None:
        """Lag divided by the group's consumption rate over the window; None if not moving."""
        history = self.progress.get(key)
        if history is None:
            history = self.progress[key] = SlidingWindow(
                self.sampler.window, columns=1, expected_interval=self.sampler.interval
            )
        history.add(now, committed)
        if lag == 0:
            return 0.0
        rows = history.rows()
        (first_at, first), (last_at, last) = rows[0], rows[-1]
        if last_at <= first_at or last <= first:
            return None
        return float(lag / ((last - first) / (last_at - first_at)))
