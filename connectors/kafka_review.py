"""Which records of a Kafka dead-letter topic are handled, kept in a per-DLQ review group.

Kafka cannot delete one record, so "replayed or discarded" lives beside the log: the
review consumer group `eventdesk-review.<dlq>` commits, per partition, an offset below
which every record is handled, and in that commit's metadata the handled offsets above it.
A replay moves this state in the same transaction that writes the replayed records.

Metadata format (version 1), one partition's commit at offset C::

    eventdesk-handled:v1:<ranges>

`<ranges>` is a comma-separated list of `a` or `a-b` (inclusive), counted from C and
ascending: `eventdesk-handled:v1:2-3,7` at C=100 means 102, 103 and 107 are handled too
(100, 101, 104..106 are not). C itself is never listed, or C would have moved. An empty
list is `eventdesk-handled:v1:`. Metadata in any other form (someone else committed with
the group) is read as "nothing above C". The whole string stays under the broker's
`offset.metadata.max.bytes` (default 4096): a settle that would exceed it is refused, and
settling the oldest unhandled records (which lets C move) makes room again.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.structs import OffsetAndMetadata

from .errors import BrokerError, EventdeskError
from .kafka_offset_fetch import OffsetFetchV7, committed_offsets
from .model import Message, Outcome, Outgoing

if TYPE_CHECKING:
    from .kafka import KafkaConnector

REVIEW_GROUP_PREFIX = "eventdesk-review."
# One id per DLQ, not per operator or process: a second replayer of the same DLQ fences the
# first, so two read-modify-writes of the review state can never both commit, and a crashed
# replay's open transaction is aborted by the next one to start.
TRANSACTIONAL_ID_PREFIX = "eventdesk-replay."
METADATA_PREFIX = "eventdesk-handled:v1:"
METADATA_MAX_CHARS = 4000

Span = tuple[int, int]  # inclusive
# Whether a browser has shown the record at (partition, offset).
ShownCheck = Callable[[int, int], bool]


def review_group(topic: str) -> str:
    return f"{REVIEW_GROUP_PREFIX}{topic}"


def replay_transactional_id(topic: str) -> str:
    return f"{TRANSACTIONAL_ID_PREFIX}{topic}"


def reviewed_topic(group: str) -> str | None:
    """The DLQ a review group belongs to, or None for any other group."""
    if not group.startswith(REVIEW_GROUP_PREFIX):
        return None
    return group.removeprefix(REVIEW_GROUP_PREFIX)


class MetadataTooLarge(ValueError):
    """The handled offsets above the committed one no longer fit in the commit's metadata."""


@dataclass(frozen=True, slots=True)
class HandledState:
    """One partition's handled offsets: everything below `committed`, plus `beyond`.

    `beyond` holds sorted, disjoint, non-touching inclusive spans, all above `committed`.
    """

    committed: int = 0
    beyond: tuple[Span, ...] = ()

    def is_handled(self, offset: int) -> bool:
        if offset < self.committed:
            return True
        i = bisect.bisect_right(self.beyond, (offset, float("inf"))) - 1
        return i >= 0 and self.beyond[i][0] <= offset <= self.beyond[i][1]

    def handled_between(self, begin: int, end: int) -> int:
        """How many offsets in [begin, end) are handled."""
        count = max(0, min(self.committed, end) - begin)
        for low, high in self.beyond:
            count += max(0, min(high + 1, end) - max(low, begin))
        return count

    def with_handled(
        self, offsets: Iterable[int], *, floor: int = 0, gaps: Sequence[Span] = ()
    ) -> HandledState:
        """This state with `offsets` handled too.

        `floor` (the log start offset) counts as handled: records below it are gone. `gaps`
        are offsets known to hold no record (transaction markers, aborted or compacted
        records); those touching a handled offset are taken in, so a transactional DLQ's
        markers do not keep the committed offset from moving, while gaps between unhandled
        records are left out and never lengthen the metadata.
        """
        spans = [*self.beyond, *((o, o) for o in offsets), (0, max(self.committed, floor) - 1)]
        merged = _merge(spans)
        touching = [
            (low, high)
            for low, high in gaps
            if _covers(merged, low - 1) or _covers(merged, low) or _covers(merged, high + 1)
        ]
        return _normalized([*merged, *touching])

    def union(self, other: HandledState) -> HandledState:
        """Everything either state handles (handled offsets only ever grow)."""
        committed = max(self.committed, other.committed)
        return _normalized([(0, committed - 1), *self.beyond, *other.beyond])

    def metadata(self) -> str:
        text = METADATA_PREFIX + ",".join(
            str(low - self.committed)
            if low == high
            else f"{low - self.committed}-{high - self.committed}"
            for low, high in self.beyond
        )
        if len(text) > METADATA_MAX_CHARS:
            raise MetadataTooLarge(
                f"{len(self.beyond)} separate handled ranges above offset {self.committed} do "
                f"not fit in a consumer group commit ({len(text)} > {METADATA_MAX_CHARS} chars)"
            )
        return text

    @classmethod
    def from_commit(cls, offset: int, metadata: str | None) -> HandledState:
        """The state a commit holds; a missing commit (offset -1) handles nothing."""
        committed = max(offset, 0)
        if offset < 0 or not metadata or not metadata.startswith(METADATA_PREFIX):
            return cls(committed)
        spans = []
        try:
            for item in filter(None, metadata.removeprefix(METADATA_PREFIX).split(",")):
                low, _, high = item.partition("-")
                spans.append((committed + int(low), committed + int(high or low)))
        except ValueError:
            # Not ours after all: trusting a half-read list could mark records handled.
            return cls(committed)
        return _normalized([(0, committed - 1), *spans])


def _normalized(spans: Iterable[Span]) -> HandledState:
    """The state handling exactly these offsets: the prefix from 0 becomes the commit."""
    merged = _merge(spans)
    if merged and merged[0][0] <= 0:
        return HandledState(merged[0][1] + 1, tuple(merged[1:]))
    return HandledState(0, tuple(merged))


def _merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint, non-touching spans; empty ones (high < low) dropped."""
    merged: list[Span] = []
    for low, high in sorted(s for s in spans if s[1] >= s[0]):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _covers(spans: Sequence[Span], offset: int) -> bool:
    i = bisect.bisect_right(spans, (offset, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= offset <= spans[i][1]


# A group has no working coordinator right now (a broker starting, a coordinator moving).
COORDINATOR_STARTING_ERRORS = (
    kafka_errors.NotCoordinatorForGroupError,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.CoordinatorLoadInProgressError,
)
# How long read() waits (in pauses between asks) for a coordinator to come up after a
# broker (re)start, or for a commit to complete: a resumed replay meets both.
_SETTLE_WAIT_S = 30.0
# How long one read of the group's offsets may go unanswered before it is asked again.
_ASK_TIMEOUT_S = 5.0
# How long a committed review state may take to show in the group's offsets: the
# transaction's markers are written after the commit returns.
_VISIBLE_WAIT_S = 5.0

# How long dropping a failed replay producer may take (it runs after timeouts, too).
_PRODUCER_STOP_S = 5.0

# The replay producer's batches: big enough that a transaction of a thousand records of a
# few KB (value plus a Spring DLT's headers) goes out in a few requests per partition, not
# hundreds (the transactional producer has one request in flight at a time), and well under
# the broker's default message.max.bytes (1 MB).
_PRODUCER_BATCH_BYTES = 512 * 1024


def message_offset(message: Message) -> tuple[int, int] | None:
    """(partition, offset) from a browsed Kafka message's id, None if it is not one."""
    partition, sep, offset = message.id.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        return None
    return int(partition), int(offset)


class ReviewLedger:
    """The review groups of one cluster: reads their state and moves it, transactionally.

    One per connector. Per DLQ it keeps a lock (one read-modify-write at a time in this
    process), the transactional producer (the broker fences everything else), and the
    last state it committed, because the group's offsets show a commit a moment late.
    A returned commit is the confirmation; readers elsewhere are waited for only once,
    by `await_visible` (a browser's close, the ledger's close), not after every commit.
    """

    def __init__(self, connector: KafkaConnector) -> None:
        self._connector = connector
        self._locks: dict[str, asyncio.Lock] = {}
        self._producers: dict[str, AIOKafkaProducer] = {}
        self._committed: dict[str, dict[int, HandledState]] = {}
        # Per DLQ, the partitions committed since the group's offsets last showed them.
        self._unseen: dict[str, set[int]] = {}
        # Per DLQ, what its settle is waiting on; kept after a failure, for the timeout.
        self._steps: dict[str, str] = {}

    def step(self, topic: str) -> str | None:
        """What a settle of `topic` is waiting on, or was when it failed; None after success."""
        return self._steps.get(topic)

    async def close(self) -> None:
        for topic in list(self._unseen):
            with contextlib.suppress(Exception):
                await self.await_visible(topic)
        producers = list(self._producers.values())
        self._producers.clear()
        for producer in producers:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def read(
        self, topic: str, partitions: Sequence[int], *, stable: bool = False
    ) -> dict[int, HandledState]:
        """Each partition's state: the group's commit, joined with what this ledger committed
        (the group's offsets show a transactional commit only once its markers are written).

        `stable` (before writing the state back): wait until no transaction committing the
        group's offsets is still completing, instead of reading the last stable ones.
        """
        commits = await self._commits(topic, partitions, stable=stable)
        known = self._committed.get(topic, {})
        states = {}
        for partition in partitions:
            commit = commits.get(partition)
            state = HandledState()
            if commit is not None:
                state = HandledState.from_commit(*commit)
            states[partition] = state.union(known.get(partition, HandledState()))
        return states

    async def _commits(
        self, topic: str, partitions: Sequence[int], *, stable: bool
    ) -> dict[int, tuple[int, str]]:
        """The review group's commits, asked again for up to 30 s while its coordinator is
        loading (right after a broker (re)start) or, with `stable`, while a transaction
        committing them is completing (a resumed replay would otherwise read the state from
        before the interrupted replay's last transaction and write it back).

        The first waits are short: the usual unstable answer is this ledger's own previous
        transaction, whose markers follow its commit by a few milliseconds.
        """
        group = review_group(topic)
        waited, pause = 0.0, 0.01
        while True:
            try:
                # Each ask bounded: one request left unanswered (aiokafka waits 40 s for it)
                # must not use up the caller's whole timeout; a new ask may be answered.
                async with asyncio.timeout(_ASK_TIMEOUT_S):
                    commits = await self._ask(topic, partitions, stable=stable)
            except COORDINATOR_STARTING_ERRORS:
                self._steps[topic] = f"the coordinator of group {group}, still starting"
                commits = None
            except TimeoutError:
                self._steps[topic] = (
                    f"the coordinator of group {group}, which left an offset read "
                    f"unanswered for {_ASK_TIMEOUT_S:g} s"
                )
                commits = None
            else:
                if commits is None:
                    self._steps[topic] = (
                        f"the offsets of group {group}, held unstable by a transaction "
                        "that has not completed"
                    )
            if commits is not None:
                return commits
            # Counted in pauses, not wall time: right after a restart each ask may itself
            # take seconds, and those must not use up the wait (the fault test saw that).
            if waited >= _SETTLE_WAIT_S:
                raise kafka_errors.CoordinatorLoadInProgressError(
                    f"the offsets of group {review_group(topic)} did not settle within "
                    f"{_SETTLE_WAIT_S:g} s of waiting"
                )
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.5)

    async def _ask(
        self, topic: str, partitions: Sequence[int], *, stable: bool
    ) -> dict[int, tuple[int, str]] | None:
        """One OffsetFetch v7 at the group's coordinator: partition -> (offset, metadata),
        the last stable commits; with `stable`, None while a commit is completing."""
        admin = self._connector._clients()[0]
        group = review_group(topic)
        request = OffsetFetchV7(group, topic, partitions, require_stable=stable)

        async def ask(node: int) -> dict[int, tuple[int, str]] | None:
            return committed_offsets(await admin._send_request(request, node))

        return await self._connector._at_coordinator(group, ask)

    async def settle(
        self,
        topic: str,
        dead_letters: Sequence[Message],
        *,
        shown: ShownCheck,
        gaps: Mapping[int, Sequence[Span]],
        target: str | None = None,
        outgoing: Sequence[Outgoing] | None = None,
    ) -> list[Outcome]:
        """Mark dead letters handled; with `target`, send `outgoing` there in the same transaction.

        Either everything in the transaction shows (records in the target for
        read_committed readers, and the review group past the dead letters) or nothing does.
        """
        lock = self._locks.setdefault(topic, asyncio.Lock())
        if not lock.locked():
            self._steps.pop(topic, None)  # a failed settle's step is not this one's
        # While another settle of this DLQ holds the lock, its step is what this one waits on.
        async with lock:
            try:
                outcomes = await self._settle_once(
                    topic, dead_letters, shown, gaps, target, outgoing
                )
            except _Fenced:
                # Another replayer of this DLQ (another window, process or machine) took
                # the transactional id since this producer last ran; nothing committed, so
                # start over with a fresh producer and the review state as it is now.
                outcomes = await self._settle_once(
                    topic, dead_letters, shown, gaps, target, outgoing
                )
            except _Aborted as aborted:
                outcomes = _fill([None] * len(dead_letters), dead_letters, str(aborted))
            except BaseException:
                # A timeout or a broken link: the next try starts with a fresh producer, whose
                # registration ends whatever this one left open at the coordinator.
                await self._drop_producer(topic)
                raise
            self._steps.pop(topic, None)
            return outcomes

    async def _settle_once(
        self,
        topic: str,
        dead_letters: Sequence[Message],
        shown: ShownCheck,
        gaps: Mapping[int, Sequence[Span]],
        target: str | None,
        outgoing: Sequence[Outgoing] | None,
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(dead_letters)
        self._steps[topic] = "the transaction coordinator, registering the replay producer"
        producer = await self._producer(topic)
        self._steps[topic] = f"the partitions of {topic}"
        partitions = await self._connector._partitions(topic)
        self._steps[topic] = f"the offsets of {topic} and of group {review_group(topic)}"
        spans, states = await asyncio.gather(
            self._connector._offset_ranges({topic: partitions}),
            # Stable: the producer above has fenced an earlier holder of the id, and an
            # unstable read could hand this transaction the state from before its last one.
            self.read(topic, partitions, stable=True),
        )

        chosen: dict[int, tuple[int, int]] = {}
        seen: set[tuple[int, int]] = set()
        for i, message in enumerate(dead_letters):
            where = message_offset(message) if message.endpoint == topic else None
            refusal = None
            if where is None or where[0] not in states or not shown(*where):
                refusal = f"not a record this browser of {topic} has shown"
            elif where in seen:
                refusal = "listed twice in one request; handled once"
            elif states[where[0]].is_handled(where[1]):
                refusal = (
                    "already handled (replayed or discarded before): not sent or settled again"
                )
            elif where[1] < spans[TopicPartition(topic, where[0])][0]:
                refusal = "no longer in the topic (deleted by retention or clean-up)"
            if refusal:
                outcomes[i] = Outcome(message.id, False, refusal)
                continue
            seen.add(where)
            chosen[i] = where
        if not chosen:
            return _fill(outcomes, dead_letters, "")

        by_partition: dict[int, list[int]] = {}
        for partition, offset in chosen.values():
            by_partition.setdefault(partition, []).append(offset)
        moved = {
            p: states[p].with_handled(
                offsets, floor=spans[TopicPartition(topic, p)][0], gaps=gaps.get(p, ())
            )
            for p, offsets in by_partition.items()
        }
        try:
            commits = {
                TopicPartition(topic, p): OffsetAndMetadata(state.committed, state.metadata())
                for p, state in moved.items()
            }
        except MetadataTooLarge as exc:
            return _fill(outcomes, dead_letters, f"refused, nothing sent: {exc}")

        self._steps[topic] = "the replay transaction"
        placed = await self._transact(producer, topic, commits, target, outgoing, chosen)
        self._committed.setdefault(topic, {}).update(moved)
        self._unseen.setdefault(topic, set()).update(moved)

        group = review_group(topic)
        for i in chosen:
            detail = placed.get(i, f"handled in review group {group}")
            outcomes[i] = Outcome(dead_letters[i].id, True, detail)
        return _fill(outcomes, dead_letters, "")

    async def _transact(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        commits: dict[TopicPartition, OffsetAndMetadata],
        target: str | None,
        outgoing: Sequence[Outgoing] | None,
        chosen: Mapping[int, tuple[int, int]],
    ) -> dict[int, str]:
        """Where each sent record went; raises _Aborted (or _Fenced) when nothing committed."""
        try:
            await producer.begin_transaction()
            futures = {}
            if target is not None and outgoing is not None:
                for i in chosen:
                    futures[i] = await send_record(producer, target, outgoing[i])
            # The offsets go while the records are still on their way: one round trip less
            # per transaction, and a failure of either still aborts both. Every result is
            # collected: when one fails, the others' errors are not left unretrieved.
            results: list[Any] = await asyncio.gather(
                producer.send_offsets_to_transaction(commits, review_group(topic)),
                *futures.values(),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
            delivered = results[1:]
        except BaseException as exc:
            # Whatever failed, nothing may show: abort (if the producer can) and start over
            # with a fresh one, which fences this one should the abort not get through.
            fatal = producer._txn_manager.is_fatal_error()
            if not fatal:
                with contextlib.suppress(Exception):
                    await producer.abort_transaction()
            await self._drop_producer(topic)
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, _FENCING_ERRORS):
                raise _Fenced from exc
            reason = str(exc) if isinstance(exc, EventdeskError) else _describe(exc)
            raise _Aborted(
                f"not sent, not settled: the transaction was aborted ({reason})"
            ) from exc
        try:
            self._steps[topic] = "the commit of the replay transaction"
            await producer.commit_transaction()
        except BaseException as exc:
            await self._drop_producer(topic)
            # The broker may have committed before the link broke: only the review group
            # can tell, and it is transactional, so a retry never sends a record twice.
            raise BrokerError(
                f"The replay transaction on {topic} may or may not have committed: {exc!r}",
                hint="Open the dead-letter topic again: handled records are marked; "
                "replaying the rest sends nothing twice.",
            ) from exc
        return {
            i: f"{metadata.partition}:{metadata.offset}"
            for i, metadata in zip(futures, delivered, strict=True)
        }

    async def _producer(self, topic: str) -> AIOKafkaProducer:
        producer = self._producers.get(topic)
        if producer is None:
            producer = self._connector._new_producer(
                transactional_id=replay_transactional_id(topic),
                max_batch_size=_PRODUCER_BATCH_BYTES,
            )
            try:
                # Registers the id with the coordinator, which aborts (or waits out) any
                # transaction an earlier holder of the id left open.
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producers[topic] = producer
        return producer

    async def _drop_producer(self, topic: str) -> None:
        producer = self._producers.pop(topic, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                # Bounded: it runs after a timeout too, when the broker may be gone.
                await asyncio.wait_for(producer.stop(), _PRODUCER_STOP_S)

    async def await_visible(self, topic: str, *, timeout: float = _VISIBLE_WAIT_S) -> bool:
        """Wait (briefly) until the group's offsets show what this ledger committed on `topic`,
        for readers elsewhere (another process resuming, a fresh connector); whether they do.
        """
        partitions = sorted(self._unseen.get(topic, ()))
        if not partitions:
            return True
        ours = self._committed.get(topic, {})
        deadline = time.monotonic() + timeout
        while True:
            # Each ask bounded too: with the broker gone one request could outlast the wait.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                    now = await self._ask(topic, partitions, stable=False) or {}
                if all(_shows(now.get(p), ours.get(p)) for p in partitions):
                    self._unseen.pop(topic, None)
                    return True
            if time.monotonic() >= deadline:
                # Waited once: a broken link should not hold up every later close too.
                self._unseen.pop(topic, None)
                return False
            await asyncio.sleep(0.02)


def _shows(commit: tuple[int, str] | None, state: HandledState | None) -> bool:
    """Whether a group commit (offset, metadata) holds at least everything `state` marks
    handled."""
    if state is None:
        return True
    if commit is None:
        return False
    seen = HandledState.from_commit(*commit)
    return seen.union(state) == seen


async def send_record(producer: AIOKafkaProducer, target: str, message: Outgoing) -> asyncio.Future:
    """Queue one outgoing message; the future resolves to its RecordMetadata."""
    partition = message.options.get("partition")
    return await producer.send(
        target,
        value=message.body,
        key=message.key,
        partition=int(partition) if partition is not None else None,
        headers=[
            (name, value if type(value) is bytes else header_bytes(value))
            for name, value in message.headers
        ],
    )


def header_bytes(value: object) -> bytes | None:
    """A header value as Kafka carries it: other brokers' headers may be str, int, ..."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


_FENCING_ERRORS = (
    kafka_errors.ProducerFenced,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.InvalidProducerIdMapping,
)


class _Aborted(Exception):
    """A transaction was aborted: nothing it held was committed."""


class _Fenced(_Aborted):
    """The producer was fenced by a newer holder of its transactional id; nothing committed."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fill(
    outcomes: list[Outcome | None], messages: Sequence[Message], detail: str
) -> list[Outcome]:
    return [
        o if o is not None else Outcome(m.id, False, detail)
        for o, m in zip(outcomes, messages, strict=True)
    ]


__all__ = [
    "COORDINATOR_STARTING_ERRORS",
    "METADATA_PREFIX",
    "REVIEW_GROUP_PREFIX",
    "HandledState",
    "MetadataTooLarge",
    "ReviewLedger",
    "header_bytes",
    "message_offset",
    "replay_transactional_id",
    "review_group",
    "reviewed_topic",
    "send_record",
]
