"""The Kafka adapter: topics with their depth, dead-letter topics found, read-only browsing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import sys
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient

from .base import Browser, Connector
from .dead_letters import dead_letter_source_from_name, is_dead_letter_header, parse_dead_letter
from .errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerError,
    BrokerUnreachable,
    ConfigurationError,
    ConnectionLost,
    EndpointNotFound,
    EventdeskError,
    OperationTimeout,
)
from .model import BrokerKind, Endpoint, EndpointKind, Headers, Message, Page

# Brokers of some versions do not flag every one of these as internal in metadata.
_INTERNAL_TOPICS = frozenset(
    {"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"}
)

# Peeking is one fetch per broker for all partitions at once, but a cluster with
# thousands of topics must not turn a refresh into a scan: past these bounds (or
# the time budget) a topic is judged by its name alone.
_PEEK_MAX_TOPICS = 512
_PEEK_MAX_PARTITIONS = 4096
_PEEK_BUDGET_S = 3.0
_PEEK_BACK = 4
# getmany waits out its whole timeout when a fetch brings only transaction markers,
# so waits are sliced short and the position is checked between slices.
_WAIT_SLICE_MS = 50

# One partition is read at a time, so this bounds a browser's buffer; 1 MiB holds
# about two pages of 1 KB records, so the next page is usually already here.
_BROWSE_PARTITION_FETCH_BYTES = 1024 * 1024
# The newest record is all a peek needs; the broker still returns a whole first
# batch when it is larger than this.
_PEEK_PARTITION_FETCH_BYTES = 64 * 1024
_PEEK_FETCH_BYTES = 16 * 1024 * 1024

_TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}

_AUTHENTICATION_ERRORS = (
    kafka_errors.AuthenticationFailedError,
    kafka_errors.AuthenticationMethodNotSupported,
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
)
_AUTHORIZATION_ERRORS = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
)
_TIMEOUT_ERRORS = (kafka_errors.KafkaTimeoutError, kafka_errors.RequestTimedOutError)
_LINK_ERRORS = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.NodeNotReadyError,
    kafka_errors.KafkaUnavailableError,
    ConnectionError,
)


class KafkaConnector(Connector):
    """One Kafka cluster: an admin client for metadata and a group-less consumer for offsets.

    Nothing here joins a consumer group or commits an offset, so looking at a
    cluster never shows up as a consumer in it.
    """

    kind = BrokerKind.KAFKA

    def __init__(self, bootstrap_servers: str, *, client_id: str = "eventdesk") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._peeker: AIOKafkaConsumer | None = None
        self._peek_lock = asyncio.Lock()
        # Topics seen without a leader on some partition at the last metadata read.
        self._leaderless: frozenset[str] = frozenset()
        self._browsers: weakref.WeakSet[KafkaBrowser] = weakref.WeakSet()

    # -- lifecycle ---------------------------------------------------------------

    async def connect(self, *, timeout: float = 10.0) -> None:
        if self._admin is not None:
            return
        started = time.monotonic()
        hosts = _parse_bootstrap(self.bootstrap_servers)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            request_timeout_ms=_request_timeout_ms(timeout),
        )
        offsets = self._new_consumer(request_timeout_ms=_request_timeout_ms(timeout))
        try:
            async with asyncio.timeout(timeout):
                async with asyncio.TaskGroup() as group:
                    group.create_task(admin.start())
                    group.create_task(offsets.start())
        except BaseException as exc:
            await _quietly_stop(admin, offsets)
            # Both clients usually fail the same way; the first one's reason is the story.
            while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, TimeoutError):
                raise BrokerUnreachable(
                    f"Kafka at {self.bootstrap_servers} did not answer within {timeout:g} s."
                ) from exc
            # Before the first answer, a broken link means nothing usable listens there.
            if isinstance(exc, (*_LINK_ERRORS, *_TIMEOUT_ERRORS, OSError)):
                left = timeout - (time.monotonic() - started)
                why = await _why_unreachable(hosts, timeout=min(left, 2.0))
                raise BrokerUnreachable(
                    f"Cannot reach Kafka at {self.bootstrap_servers}: {why}."
                ) from exc
            raise translate_error(exc, servers=self.bootstrap_servers, doing="connecting") from exc
        self._admin, self._offsets = admin, offsets

    async def close(self) -> None:
        browsers = list(self._browsers)
        self._browsers.clear()
        for browser in browsers:
            await browser.close()
        clients = (self._peeker, self._offsets, self._admin)
        self._admin = self._offsets = self._peeker = None
        await _quietly_stop(*clients)

    # -- endpoints ---------------------------------------------------------------

    async def list_endpoints(self, *, timeout: float = 30.0) -> list[Endpoint]:
        started = time.monotonic()
        async with self._translated("listing topics", timeout):
            topics = await self._topic_partitions()
            depths = await self._depths(topics)
        names = set(topics)
        named_sources = {name: dead_letter_source_from_name(name) for name in topics}

        # Name-matched DLQs are peeked too: their headers name sources that the
        # name alone cannot (a Connect DLQ is named after its connector). Among the
        # rest, small topics first: a DLQ is usually far smaller than what feeds it.
        named = sorted(n for n in topics if named_sources[n] is not None and depths.get(n))
        unnamed = sorted(
            (n for n in topics if named_sources[n] is None and depths.get(n)),
            key=lambda n: (depths[n], n),
        )
        remaining = timeout - (time.monotonic() - started)
        newest = await self._peek_newest(
            _bounded_peek(named + unnamed, topics), budget=min(_PEEK_BUDGET_S, remaining)
        )

        endpoints = []
        for name in sorted(topics):
            source = named_sources[name]
            seen = newest.get(name, [])
            dead_headers = [h for headers in seen for h, _ in headers if is_dead_letter_header(h)]
            fed_by: list[str] = []
            if source and source in names:
                fed_by.append(source)
            for headers in seen:
                original = parse_dead_letter(headers).original_destination
                if original and original != name and original not in fed_by:
                    fed_by.append(original)
            evidence = []
            if source is not None:
                evidence.append(_name_evidence(name, source))
            if dead_headers:
                evidence.append(f"records carry {_header_family(dead_headers)} headers")
            endpoints.append(
                Endpoint(
                    name=name,
                    kind=EndpointKind.TOPIC,
                    depth=depths.get(name),
                    is_dead_letter=bool(evidence),
                    fed_by=tuple(fed_by),
                    dead_letter_evidence="; ".join(evidence),
                    details={"partitions": str(len(topics[name]))},
                )
            )
        return endpoints

    async def depth(self, endpoint: str, *, timeout: float = 10.0) -> int:
        async with self._translated(f"reading the depth of {endpoint}", timeout):
            partitions = await self._partitions(endpoint)
            depths = await self._depths({endpoint: partitions})
        if endpoint not in depths:
            raise EndpointNotFound(f"Topic {endpoint} went away while its depth was read.")
        return depths[endpoint]

    def browse(self, endpoint: str, *, page_size: int = 500) -> Browser:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        browser = KafkaBrowser(self, endpoint, page_size=page_size)
        self._browsers.add(browser)
        return browser

    # -- internals shared with the browser ---------------------------------------

    def _new_consumer(self, **overrides: object) -> AIOKafkaConsumer:
        settings: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            # No group: nothing can be committed and no group appears on the broker.
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "exclude_internal_topics": True,
        }
        settings.update(overrides)
        return AIOKafkaConsumer(**settings)

    async def _partitions(self, topic: str) -> list[int]:
        """The partition ids of a topic; EndpointNotFound if the cluster has no such topic."""
        topics = await self._topic_partitions()
        if topic not in topics:
            raise EndpointNotFound(f"Kafka at {self.bootstrap_servers} has no topic {topic!r}.")
        if topic in self._leaderless:
            raise BrokerError(
                f"Topic {topic} has a partition without a leader right now.",
                hint="The cluster is electing leaders or lost a broker; try again shortly.",
            )
        return topics[topic]

    def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            raise ConnectionLost(
                f"Not connected to Kafka at {self.bootstrap_servers}.",
                hint="Connect first, or reconnect.",
            )
        return self._admin, self._offsets

    async def _topic_partitions(self) -> dict[str, list[int]]:
        """Every user topic and its partitions, from one all-topics metadata request.

        Asking for named topics instead would let a broker with topic
        auto-creation create a topic the operator merely mistyped.
        """
        described = await self._clients()[0].describe_topics()
        topics: dict[str, list[int]] = {}
        leaderless: set[str] = set()
        for topic in described:
            name = topic["topic"]
            if topic.get("is_internal") or name in _INTERNAL_TOPICS:
                continue
            error = kafka_errors.for_code(topic["error_code"])
            if error is kafka_errors.TopicAuthorizationFailedError:
                continue
            topics[name] = sorted(p["partition"] for p in topic["partitions"])
            if not topic["partitions"] or any(p["leader"] < 0 for p in topic["partitions"]):
                leaderless.add(name)
        self._leaderless = frozenset(leaderless)
        return topics

    async def _depths(self, topics: dict[str, list[int]]) -> dict[str, int]:
        """Messages held per topic (end minus beginning offsets); topics it cannot ask are left out.

        Compacted topics and transaction markers make this an upper bound.
        """
        ranges = await self._offset_ranges(topics)
        depths: dict[str, int] = {}
        for name, parts in topics.items():
            tps = [TopicPartition(name, p) for p in parts]
            if all(tp in ranges for tp in tps):
                depths[name] = sum(max(0, ranges[tp][1] - ranges[tp][0]) for tp in tps)
        return depths

    async def _offset_ranges(
        self, topics: dict[str, list[int]]
    ) -> dict[TopicPartition, tuple[int, int]]:
        """(beginning, end) offsets of every partition of the topics that can be asked now.

        A topic without a leader somewhere, or deleted since it was listed, is left
        out: asking would stall until the timeout.
        """
        offsets = self._clients()[1]
        if any(offsets.partitions_for_topic(t) is None for t in topics):
            # Left alone, aiokafka learns unknown topics one per round trip, each after a
            # 100 ms back-off. With no topics tracked, this refresh reads them all (and,
            # unlike a request naming topics, never makes a broker auto-create one).
            await offsets._client.force_metadata_update()
        tps = [
            TopicPartition(t, p)
            for t, parts in topics.items()
            if t not in self._leaderless and offsets.partitions_for_topic(t) is not None
            for p in parts
        ]
        if not tps:
            return {}
        begin, end = await asyncio.gather(offsets.beginning_offsets(tps), offsets.end_offsets(tps))
        return {tp: (begin[tp], end[tp]) for tp in tps}

    async def _peek_newest(
        self, topics: dict[str, list[int]], *, budget: float
    ) -> dict[str, list[Headers]]:
        """The headers of the newest record of each non-empty partition, as far as budget allows.

        A peek that runs out of time leaves topics unjudged by headers; it never
        fails the listing.
        """
        if not topics or budget <= 0:
            return {}
        newest: dict[TopicPartition, ConsumerRecord] = {}
        async with self._peek_lock:
            try:
                async with asyncio.timeout(budget):
                    peeker = await self._started_peeker()
                    ranges = await self._offset_ranges(topics)
                    ends = {tp: end for tp, (begin, end) in ranges.items() if end > begin}
                    peeker.assign(list(ends))
                    for tp, (begin, end) in ranges.items():
                        if tp in ends:
                            # A few back, not one: under transactions the last offsets
                            # are commit markers, which hold no record.
                            peeker.seek(tp, max(begin, end - _PEEK_BACK))
                    pending = set(ends)
                    try:
                        while pending:
                            batch = await peeker.getmany(*pending, timeout_ms=_WAIT_SLICE_MS)
                            for tp, records in batch.items():
                                if records:
                                    newest[tp] = records[-1]
                            for tp in list(pending):
                                if await peeker.position(tp) >= ends[tp]:
                                    pending.discard(tp)
                    finally:
                        peeker.unsubscribe()
            except (TimeoutError, kafka_errors.KafkaError, OSError):
                pass
        found: dict[str, list[Headers]] = {}
        for tp, record in sorted(newest.items()):
            found.setdefault(tp.topic, []).append(tuple(record.headers))
        return found

    async def _started_peeker(self) -> AIOKafkaConsumer:
        if self._peeker is None:
            peeker = self._new_consumer(
                max_partition_fetch_bytes=_PEEK_PARTITION_FETCH_BYTES,
                fetch_max_bytes=_PEEK_FETCH_BYTES,
                fetch_max_wait_ms=100,
            )
            try:
                await peeker.start()
            except BaseException:
                await _quietly_stop(peeker)
                raise
            self._peeker = peeker
        return self._peeker

    @contextlib.asynccontextmanager
    async def _translated(self, doing: str, timeout: float | None) -> AsyncIterator[None]:
        """Bounds a step by `timeout` (None: unbounded) and turns aiokafka's errors into ours."""
        try:
            async with asyncio.timeout(timeout):
                yield
        except EventdeskError:
            raise
        except TimeoutError as exc:
            raise OperationTimeout(
                f"Kafka at {self.bootstrap_servers} did not answer within {timeout or 0:g} s "
                f"while {doing}."
            ) from exc
        except Exception as exc:
            raise translate_error(exc, servers=self.bootstrap_servers, doing=doing) from exc

    def _forget(self, browser: KafkaBrowser) -> None:
        self._browsers.discard(browser)


class KafkaBrowser(Browser):
    """Reads one topic partition by partition, oldest first, up to where it ended on opening.

    Its consumer has no group and commits nothing; closing it only drops a
    connection.
    """

    side_effect_note = "Read-only: Kafka browsing commits no offsets."

    def __init__(self, connector: KafkaConnector, topic: str, *, page_size: int) -> None:
        self._connector = connector
        self.topic = topic
        self.page_size = page_size
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        # (partition, stop offset) still to read, in partition order.
        self._remaining: list[tuple[TopicPartition, int]] = []
        self._opened = False
        # "" (a shared error queue) names no source, so it implies nothing.
        self._implied_source = dead_letter_source_from_name(topic) or None

    async def next_page(self, *, timeout: float = 10.0) -> Page:
        async with self._lock:
            if self._closed:
                raise ConnectionLost(f"The browser over {self.topic} is closed.")
            deadline = time.monotonic() + timeout
            if not self._opened:
                async with self._connector._translated(f"opening {self.topic}", timeout):
                    await self._open()
            # Not cancelled from outside: records taken from the consumer must reach the
            # page, so the read loop keeps to the deadline itself.
            async with self._connector._translated(f"browsing {self.topic}", None):
                return await self._read_page(deadline, timeout)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connector._forget(self)
        consumer, self._consumer = self._consumer, None
        await _quietly_stop(consumer)

    async def _open(self) -> None:
        partitions = await self._connector._partitions(self.topic)
        spans = await self._connector._offset_ranges({self.topic: partitions})
        if len(spans) < len(partitions):
            raise EndpointNotFound(f"Topic {self.topic} went away while the browser opened.")
        ranges = [(tp, begin, end) for tp, (begin, end) in sorted(spans.items()) if end > begin]
        self._remaining = [(tp, stop) for tp, _, stop in ranges]
        if ranges:
            consumer = self._connector._new_consumer(
                max_partition_fetch_bytes=_BROWSE_PARTITION_FETCH_BYTES,
                fetch_max_bytes=4 * _BROWSE_PARTITION_FETCH_BYTES,
                fetch_max_wait_ms=100,
            )
            try:
                await consumer.start()
            except BaseException:
                await _quietly_stop(consumer)
                raise
            self._consumer = consumer
            consumer.assign([tp for tp, _, _ in ranges])
            for tp, start, _ in ranges:
                consumer.seek(tp, start)
            # Paused before the fetcher first runs, so only the partition being
            # read is ever fetched and buffered.
            consumer.pause(*[tp for tp, _, _ in ranges[1:]])
        self._opened = True

    async def _read_page(self, deadline: float, timeout: float) -> Page:
        messages: list[Message] = []
        consumer = self._consumer
        while self._remaining and len(messages) < self.page_size:
            assert consumer is not None
            tp, stop = self._remaining[0]
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                if messages:
                    break
                raise OperationTimeout(
                    f"Kafka at {self._connector.bootstrap_servers} sent nothing from "
                    f"{self.topic} within {timeout:g} s."
                )
            batch = await consumer.getmany(
                tp,
                timeout_ms=min(left_ms, _WAIT_SLICE_MS),
                max_records=self.page_size - len(messages),
            )
            records = batch.get(tp, [])
            reached_stop = False
            for record in records:
                if record.offset >= stop:
                    reached_stop = True
                    break
                messages.append(self._message(record))
                if record.offset + 1 >= stop:
                    reached_stop = True
                    break
            if not records and await consumer.position(tp) >= stop:
                reached_stop = True
            if reached_stop:
                self._remaining.pop(0)
                consumer.pause(tp)
                if self._remaining:
                    consumer.resume(self._remaining[0][0])
        return Page(messages=messages, more=bool(self._remaining))

    def _message(self, record: ConsumerRecord) -> Message:
        # Every dead letter repeats the same dozen header names; one copy of each keeps a
        # 100,000-message browse some 70 MB smaller.
        headers: Headers = tuple((sys.intern(name), value) for name, value in record.headers)
        facts = parse_dead_letter(headers)
        if facts.original_destination is None and self._implied_source is not None:
            facts = dataclasses.replace(
                facts,
                original_destination=self._implied_source,
                convention=facts.convention or "topic name",
            )
        timestamp = None
        if record.timestamp is not None and record.timestamp >= 0:
            timestamp = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        return Message(
            endpoint=self.topic,
            id=f"{record.partition}:{record.offset}",
            body=record.value if record.value is not None else b"",
            key=record.key,
            headers=headers,
            timestamp=timestamp,
            dead_letter=facts,
            attributes={
                "partition": str(record.partition),
                "offset": str(record.offset),
                "timestamp-type": _TIMESTAMP_TYPES.get(
                    record.timestamp_type, str(record.timestamp_type)
                ),
            },
        )


def translate_error(exc: BaseException, *, servers: str, doing: str) -> EventdeskError:
    """The Eventdesk error for an aiokafka failure while `doing` something."""
    where = f"Kafka at {servers}"
    if isinstance(exc, _AUTHENTICATION_ERRORS):
        return AuthenticationFailed(f"{where} refused the credentials while {doing}: {exc}")
    if isinstance(exc, _AUTHORIZATION_ERRORS):
        return AuthorizationFailed(f"{where} denied a permission while {doing}: {exc}")
    if isinstance(exc, kafka_errors.UnknownTopicOrPartitionError):
        return EndpointNotFound(f"{where} does not know the topic while {doing}.")
    if isinstance(exc, _TIMEOUT_ERRORS):
        return OperationTimeout(f"{where} did not answer in time while {doing}.")
    if isinstance(exc, (*_LINK_ERRORS, OSError)):
        return ConnectionLost(f"Lost the link to {where} while {doing}: {exc}")
    if isinstance(exc, kafka_errors.KafkaConfigurationError):
        return ConfigurationError(f"The Kafka connection is misconfigured: {exc}")
    return BrokerError(f"{where} failed while {doing}: {type(exc).__name__}: {exc}")


def _parse_bootstrap(servers: str) -> list[tuple[str, int]]:
    """host:port pairs, checked up front so a typo reads as a typo, not as a dead broker."""
    hosts = []
    for item in servers.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                f"Kafka bootstrap server {item!r} is not host:port.",
                hint="Write bootstrap servers as host:port, separated by commas.",
            )
        hosts.append((host.strip("[]"), int(port)))
    if not hosts:
        raise ConfigurationError("The Kafka connection has no bootstrap servers.")
    return hosts


async def _why_unreachable(hosts: Sequence[tuple[str, int]], *, timeout: float) -> str:
    """The operating system's reason, per host: aiokafka only logs it.

    Only runs after a failed connect, to tell "refused" from "unknown host" from
    "something listens but is not a plain Kafka listener".
    """
    reasons = []
    for host, port in hosts:
        try:
            async with asyncio.timeout(max(timeout, 0.1)):
                _, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            reason = "no answer"
        except socket.gaierror as exc:
            reason = f"unknown host ({exc.strerror})"
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        else:
            writer.close()
            reason = (
                "it accepts connections but did not answer as a plain Kafka listener "
                "(is it TLS or SASL, or not Kafka?)"
            )
        reasons.append(reason if len(hosts) == 1 else f"{host}:{port}: {reason}")
    return "; ".join(reasons)


def _request_timeout_ms(timeout: float) -> int:
    # aiokafka's own per-request limit sits a little above ours, so ours fires
    # first and reports which step ran out of time.
    return int(max(timeout, 1.0) * 1000) + 1000


async def _quietly_stop(*clients: AIOKafkaConsumer | AIOKafkaAdminClient | None) -> None:
    for client in clients:
        if client is None:
            continue
        # Closing is best effort: the link may already be gone, which is fine.
        with contextlib.suppress(Exception):
            if isinstance(client, AIOKafkaAdminClient):
                await client.close()
            else:
                await client.stop()


def _bounded_peek(names: Iterable[str], topics: dict[str, list[int]]) -> dict[str, list[int]]:
    chosen: dict[str, list[int]] = {}
    partitions = 0
    for name in names:
        if len(chosen) >= _PEEK_MAX_TOPICS:
            break
        if partitions + len(topics[name]) > _PEEK_MAX_PARTITIONS:
            continue
        chosen[name] = topics[name]
        partitions += len(topics[name])
    return chosen


def _name_evidence(name: str, source: str) -> str:
    """Why the name marks a DLQ: "name ends in .DLT" for orders.DLT, "name starts with dlq-"."""
    if not source:
        return "named like a shared error queue"
    if name.startswith(source) and name != source:
        return f"name ends in {name[len(source) :]}"
    if name.endswith(source) and name != source:
        return f"name starts with {name[: len(name) - len(source)]}"
    return "name follows a dead-letter naming convention"


def _header_family(names: Sequence[str]) -> str:
    """Dead-letter header names as an operator reads them: "kafka_dlt-*", not ten names."""
    distinct = sorted(set(names))
    if len(distinct) == 1:
        return distinct[0]
    first, last = distinct[0], distinct[-1]
    shared = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    prefix = first[:shared]
    if len(prefix) >= 3:
        return f"{prefix}*"
    return ", ".join(distinct[:3]) + (", ..." if len(distinct) > 3 else "")


__all__ = ["KafkaBrowser", "KafkaConnector", "translate_error"]
