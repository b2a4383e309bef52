"""A fast read of a whole Kafka topic for search: librdkafka on a worker thread.

aiokafka decodes every record in Python on the caller's event loop (a few thousand a
second next to a window); librdkafka fetches and decodes in C threads that release the
GIL. The worker drops records whose raw body cannot match (Matcher.prefilter), builds a
Message only for the rest, parses dead-letter facts only for matches, and hands chunks
of at most a page of matches, or 50 ms of reading, to the event loop. It reads ahead a
bounded number of chunks, so a scan nobody waits for (Esc) pauses instead of running on.

The KafkaBrowser it reads for is the one that holds the results (settle and replay go
through it), so what the worker read is noted there, on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiokafka.structs import ConsumerRecord
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from .errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerError,
    BrokerUnreachable,
    EndpointNotFound,
    EventdeskError,
    OperationTimeout,
)
from .kafka import KafkaBrowser, KafkaSecurity
from .model import Message

if TYPE_CHECKING:
    from .search import Matcher

_LOG = logging.getLogger(__name__)

# Chunks read ahead of the event loop; bounds what a paused scan has already read.
READ_AHEAD_CHUNKS = 16
# A chunk is handed over after 50 ms, a page of matches, or the larger of a page and
# CHUNK_RECORDS scanned: each chunk costs the window a table insert and a status update,
# and a chunk per 500 scanned (the window's page) kept it busier than the read itself.
CHUNK_SECONDS = 0.05
CHUNK_RECORDS = 2000
# How long the worker goes without a record, while some partition still has some to
# give, before it reports the broker gone (librdkafka itself reconnects meanwhile).
STALL_LIMIT_S = 60.0
_POLL_S = 0.1
FETCH_QUEUE_BACKOFF_MS = 5
# librdkafka's timestamp types, as aiokafka numbers them (0 CreateTime, 1 LogAppendTime).
_TIMESTAMP_TYPES = {1: 0, 2: 1}


@dataclass(slots=True)
class ScanChunk:
    """What the worker read since the last chunk: matches, and the offsets it went through."""

    matches: list[Message] = field(default_factory=list)
    scanned: int = 0
    # partition -> [[first offset, last offset]] runs of records read, in order.
    runs: dict[int, list[list[int]]] = field(default_factory=dict)
    finished_partitions: list[int] = field(default_factory=list)
    done: bool = False
    error: EventdeskError | None = None


class KafkaBulkScan:
    """Reads `browser`'s topic to where it ended on opening; `next_chunk` hands results over."""

    def __init__(self, browser: KafkaBrowser, matcher: Matcher) -> None:
        self.browser = browser
        self.matcher = matcher
        self._chunks: asyncio.Queue[ScanChunk] = asyncio.Queue()
        self._room = threading.Semaphore(READ_AHEAD_CHUNKS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None  # None again after an error: restart
        self._worker: threading.Thread | None = None  # the last one started
        self._ended: asyncio.Future[None] | None = None
        self._done = False
        self._held: ScanChunk | None = None  # an error chunk read behind good ones

    async def next_chunk(self, *, timeout: float) -> ScanChunk:
        """The next chunk, with the chunks already read behind it merged in (up to about a
        page of matches): a window that takes a page per turn of its loop falls behind
        the reader otherwise. Raises the worker's error, with its hint.

        After an error the worker has ended; the next call starts a new one from where the
        browser has read to (Load more is the retry).
        """
        if self._done:
            return ScanChunk(done=True)
        if self._thread is None:
            await self._start(timeout)
            if self._done:
                return ScanChunk(done=True)
        chunk, self._held = self._held, None
        if chunk is None:
            try:
                chunk = await asyncio.wait_for(self._chunks.get(), timeout)
            except TimeoutError:
                raise OperationTimeout(
                    f"Kafka at {self.browser.connector.bootstrap_servers} sent nothing from "
                    f"{self.browser.topic} within {timeout:g} s."
                ) from None
            self._taken(chunk)
        page = max(1, self.browser.page_size)
        while chunk.error is None and not chunk.done and len(chunk.matches) < page:
            try:
                more = self._chunks.get_nowait()
            except asyncio.QueueEmpty:
                break
            self._taken(more)
            if more.error is not None:
                self._held = more  # what came before it is handed over first
                break
            chunk.matches += more.matches
            chunk.scanned += more.scanned
            chunk.done = more.done
        if chunk.error is not None:
            self._thread = None
            raise chunk.error
        self._done = chunk.done
        return chunk

    def _taken(self, chunk: ScanChunk) -> None:
        self._room.release()
        self._note_read(chunk)

    async def close(self) -> None:
        """Stops the worker and waits until its consumer is closed and the thread has
        ended; idempotent."""
        self._stop.set()
        if self._ended is not None:
            await asyncio.shield(self._ended)
        if self._worker is not None:
            # `ended` is the worker's last call: the thread is returning, not working.
            await asyncio.to_thread(self._worker.join)

    async def _start(self, timeout: float) -> None:
        browser = self.browser
        # The browser's own consumer sits idle until the browser closes: stopping a
        # consumer that has just started can hang in aiokafka.
        ranges = await browser.open_for_bulk_read(timeout)
        if not ranges:
            self._done = True
            return
        starts = {partition: start for partition, (start, _) in ranges.items()}
        stops = {partition: stop for partition, (_, stop) in ranges.items()}
        loop = asyncio.get_running_loop()
        self._ended = ended = loop.create_future()
        reader = _Reader(self, starts, stops, loop, ended)
        self._thread = threading.Thread(
            target=reader.run, name=f"eventdesk-scan-{browser.topic}", daemon=True
        )
        self._thread.start()
        self._worker = self._thread

    def _note_read(self, chunk: ScanChunk) -> None:
        browser = self.browser
        for partition, runs in chunk.runs.items():
            for first, last in runs:
                browser.note_read_run(partition, first, last)
        for partition in chunk.finished_partitions:
            browser.note_partition_done(partition)

    # -- called from the worker thread ------------------------------------------------

    def _post(self, loop: asyncio.AbstractEventLoop, chunk: ScanChunk) -> bool:
        """Hands a chunk to the event loop once there is room; False when told to stop."""
        while not self._room.acquire(timeout=_POLL_S):
            if self._stop.is_set():
                return False
        return self._call(loop, self._chunks.put_nowait, chunk)

    def _call(self, loop: asyncio.AbstractEventLoop, function: Callable, *args: object) -> bool:
        try:
            loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop is closed: nobody is left to hand anything to
            return False
        return True

    def _finished(self, loop: asyncio.AbstractEventLoop, ended: asyncio.Future[None]) -> None:
        def resolve() -> None:
            if not ended.done():
                ended.set_result(None)

        self._call(loop, resolve)


class _Reader:
    """The worker thread's side: one librdkafka consumer, read to the stop offsets."""

    def __init__(
        self,
        scan: KafkaBulkScan,
        starts: dict[int, int],
        stops: dict[int, int],
        loop: asyncio.AbstractEventLoop,
        ended: asyncio.Future[None],
    ) -> None:
        self.scan = scan
        self.ended = ended
        self.browser = scan.browser
        self.starts = starts
        self.stops = stops
        self.loop = loop
        self.errors: list[KafkaError] = []
        matcher = scan.matcher
        self.prefilter = matcher.prefilter
        self.needs_facts = matcher.needs_dead_letter
        self.body_only = matcher.reads_body_only
        self.page = max(1, self.browser.page_size)
        self.chunk_size = max(self.page, CHUNK_RECORDS)

    def run(self) -> None:
        try:
            consumer = Consumer(self._settings())
        except (KafkaException, ValueError) as exc:
            self._fail(_translate_exception(exc, self.browser))
            self.scan._finished(self.loop, self.ended)
            return
        try:
            self._read(consumer)
        except EventdeskError as exc:
            self._fail(exc)
        except Exception as exc:  # never lose the scan's end: the UI must hear of it
            self._fail(BrokerError(f"Reading {self.browser.topic} failed: {exc!r}"))
        finally:
            with contextlib.suppress(Exception):
                consumer.close()
            self.scan._finished(self.loop, self.ended)

    def _fail(self, error: EventdeskError) -> None:
        self.scan._post(self.loop, ScanChunk(error=error, done=True))

    def _read(self, consumer: Consumer) -> None:
        topic = self.browser.topic
        consumer.assign([TopicPartition(topic, p, offset) for p, offset in self.starts.items()])
        left = set(self.stops)
        chunk = ScanChunk()
        last_record = began = time.monotonic()
        while left and not self.scan._stop.is_set():
            # No chunk over its size, and no more than a page of matches, whatever matches.
            wanted = min(1000, self.chunk_size - chunk.scanned, self.page - len(chunk.matches))
            messages = consumer.consume(num_messages=wanted, timeout=_POLL_S)
            if messages:
                last_record = time.monotonic()
            elif time.monotonic() - last_record > STALL_LIMIT_S:
                raise self._stalled()
            self._take(consumer, messages, chunk, left)
            if chunk.scanned and self._chunk_full(chunk, began, bool(messages)):
                if not self.scan._post(self.loop, chunk):
                    return
                chunk = ScanChunk()
                began = time.monotonic()
        if not self.scan._stop.is_set():
            chunk.done = True
            self.scan._post(self.loop, chunk)

    def _chunk_full(self, chunk: ScanChunk, began: float, reading: bool) -> bool:
        return (
            not reading
            or len(chunk.matches) >= self.page
            or chunk.scanned >= self.chunk_size
            or time.monotonic() - began >= CHUNK_SECONDS
        )

    def _take(self, consumer: Consumer, messages: list, chunk: ScanChunk, left: set[int]) -> None:
        """Scans one batch into `chunk`: a stretch of records of one partition at a time,
        each stretch with list-at-once steps; record by record where a stretch is not
        plain (an error or end-of-partition event, or a gap in its offsets)."""
        if any(record.error() is not None for record in messages):
            self._take_each(consumer, messages, chunk, left)
            return
        partitions = [record.partition() for record in messages]
        starts = [0, *(i for i in range(1, len(messages)) if partitions[i] != partitions[i - 1])]
        for start, end in zip(starts, [*starts[1:], len(messages)], strict=True):
            self._take_stretch(consumer, messages[start:end], partitions[start], chunk, left)

    def _take_stretch(
        self, consumer: Consumer, records: list, partition: int, chunk: ScanChunk, left: set[int]
    ) -> None:
        """Records of one partition, in offset order, none of them an error."""
        if partition not in left:
            return  # read ahead past its stop before the pause took hold
        first, last = records[0].offset(), records[-1].offset()
        stop = self.stops[partition]
        if last >= stop or last - first != len(records) - 1:  # its end, or a gap: rare
            self._take_each(consumer, records, chunk, left)
            return
        _note_run(chunk.runs, partition, first, last)
        chunk.scanned += len(records)
        values = [record.value() or b"" for record in records]
        prefilter = self.prefilter
        prefiltered = prefilter is not None
        wanted = prefilter.candidates(values) if prefiltered else range(len(records))
        for index in wanted:
            self._match(records[index], values[index], chunk, prefiltered=prefiltered)
        if last + 1 >= stop:
            self._finish(consumer, chunk, left, partition)

    def _take_each(
        self, consumer: Consumer, messages: list, chunk: ScanChunk, left: set[int]
    ) -> None:
        """Scans records one by one: end-of-partition events, stops and gaps."""
        stops, prefilter, runs = self.stops, self.prefilter, chunk.runs
        scanned = 0
        for record in messages:
            error = record.error()
            partition = record.partition()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise _translate(error, self.browser)
                self._finish(consumer, chunk, left, partition)
                continue
            if partition not in left:
                continue  # read ahead past its stop before the pause took hold
            offset = record.offset()
            stop = stops[partition]
            if offset >= stop:
                self._finish(consumer, chunk, left, partition)
                continue
            scanned += 1
            _note_run(runs, partition, offset, offset)
            value = record.value() or b""
            if prefilter is None or prefilter(value):
                self._match(record, value, chunk)
            if offset + 1 >= stop:
                self._finish(consumer, chunk, left, partition)
        chunk.scanned += scanned

    def _match(
        self, record: object, value: bytes, chunk: ScanChunk, *, prefiltered: bool = False
    ) -> None:
        if self.body_only:
            # An expression alone: judged on the body, and only a match becomes a Message
            # (headers and dead-letter facts cost ~50 us a record, most of a scan's matching).
            if self.scan.matcher.body_test(value, prefiltered=prefiltered):
                chunk.matches.append(self.browser.message_from(_consumer_record(record, value)))
            return
        converted = _consumer_record(record, value)
        message = self.browser.message_from(converted, with_facts=self.needs_facts)
        if self.scan.matcher(message):
            if not self.needs_facts:
                message = self.browser.message_from(converted)
            chunk.matches.append(message)

    def _finish(self, consumer: Consumer, chunk: ScanChunk, left: set[int], partition: int) -> None:
        if partition in left:
            left.discard(partition)
            chunk.finished_partitions.append(partition)
            consumer.pause([TopicPartition(self.browser.topic, partition)])

    def _stalled(self) -> EventdeskError:
        servers = self.browser.connector.bootstrap_servers
        if self.errors:
            return _translate(self.errors[-1], self.browser)
        return OperationTimeout(
            f"Kafka at {servers} sent nothing from {self.browser.topic} "
            f"for {STALL_LIMIT_S:g} s in the middle of a search."
        )

    def _on_error(self, error: KafkaError) -> None:
        self.errors.append(error)

    def _settings(self) -> dict[str, object]:
        connector = self.browser.connector
        settings: dict[str, object] = {
            "bootstrap.servers": connector.bootstrap_servers,
            "client.id": connector.client_id,
            # librdkafka needs a group id even for assign(); nothing joins it or commits.
            "group.id": f"{connector.client_id}-search-no-commits",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # What the browser shows: aiokafka's default, not librdkafka's read_committed.
            "isolation.level": "read_uncommitted",
            "fetch.wait.max.ms": 100,
            # librdkafka waits this long before fetching again once its queue has been
            # full (1 s by default): a scan drains the queue in a moment and then sat idle.
            # At 0 the read of 1,000,000 records took 3.3 s here instead of 6.5 s, but its
            # fetcher spun on the full queue: 10-11 s of CPU for a 6 s search on 2 CPUs.
            # At 5 ms, 6.5-7.3 s of CPU in the same time.
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
            "error_cb": self._on_error,
            # Its log lines (broker down, retrying) go to logging, not to stderr.
            "logger": _LOG,
        }
        settings.update(_security_settings(connector.security))
        return settings


def _note_run(runs: dict[int, list[list[int]]], partition: int, first: int, last: int) -> None:
    """Records `first`..`last` of `partition` were read: extends the last run or starts one."""
    spans = runs.setdefault(partition, [])
    if spans and spans[-1][1] + 1 == first:
        spans[-1][1] = last
    else:
        spans.append([first, last])


def _security_settings(security: KafkaSecurity) -> dict[str, object]:
    """The connector's KafkaSecurity in librdkafka's words (passwords are not logged)."""
    settings: dict[str, object] = {"security.protocol": security.security_protocol}
    if security.uses_sasl:
        settings["sasl.mechanism"] = security.sasl_mechanism
        settings["sasl.username"] = security.sasl_username
        settings["sasl.password"] = security.sasl_password
    if security.uses_tls:
        files = {
            "ssl.ca.location": security.ssl_cafile,
            "ssl.certificate.location": security.ssl_certfile,
            "ssl.key.location": security.ssl_keyfile,
            "ssl.key.password": security.ssl_key_password,
        }
        settings.update({name: value for name, value in files.items() if value})
        if not security.ssl_check_hostname:
            settings["ssl.endpoint.identification.algorithm"] = "none"
    return settings


def _consumer_record(record: object, value: bytes) -> ConsumerRecord:
    """librdkafka's message as aiokafka's record, which KafkaBrowser turns into a Message."""
    kind, timestamp = record.timestamp()
    key = record.key()
    return ConsumerRecord(
        topic=record.topic(),
        partition=record.partition(),
        offset=record.offset(),
        timestamp=timestamp if kind else -1,
        timestamp_type=_TIMESTAMP_TYPES.get(kind, 0),
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key) if key is not None else -1,
        serialized_value_size=len(value),
        headers=tuple(record.headers() or ()),
    )


def _translate_exception(exc: BaseException, browser: KafkaBrowser) -> EventdeskError:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return _translate(exc.args[0], browser)
    return BrokerError(f"Cannot start reading {browser.topic}: {exc}")


def _translate(error: KafkaError, browser: KafkaBrowser) -> EventdeskError:
    """The Eventdesk error for a librdkafka error met while searching `browser`'s topic."""
    servers = browser.connector.bootstrap_servers
    code = error.code()
    reason = error.str()
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
        return EndpointNotFound(f"Topic {browser.topic} went away during the search.")
    if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED):
        return AuthorizationFailed(
            f"Kafka at {servers} refused to let the search read {browser.topic}: {reason}."
        )
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return AuthenticationFailed(f"Kafka at {servers} refused the credentials: {reason}.")
    if code in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE):
        return BrokerUnreachable(f"Kafka at {servers} went away during the search: {reason}.")
    return BrokerError(f"Kafka at {servers} failed the search of {browser.topic}: {reason}.")


def bulk_scan_for(source: object, matcher: Matcher) -> KafkaBulkScan | None:
    """The fast reader for `source` when it is a Kafka browser not yet read from, else None."""
    if isinstance(source, KafkaBrowser) and not source.opened:
        return KafkaBulkScan(source, matcher)
    return None


__all__ = ["READ_AHEAD_CHUNKS", "KafkaBulkScan", "ScanChunk", "bulk_scan_for"]
