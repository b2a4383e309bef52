"""The replay and discard engine, the same for every broker: journal, send, confirm, settle.

A dead letter is settled (taken off its DLQ) only after the target broker confirmed its
replayed copy, so a failure anywhere leaves it where it was. The journal hears of every
step before the next one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, replace
from typing import Any

from .base import Browser, Connector
from .dead_letters import is_dead_letter_header
from .errors import CONNECTION_ERRORS, EventdeskError
from .journal import (
    FINISHED_STATUSES,
    Journal,
    MessageRecord,
    PlannedMessage,
    payload_sha256,
)
from .model import Headers, HeaderValue, Message, Outcome, Outgoing

log = logging.getLogger(__name__)

REPLAY_ID_HEADER = "eventdesk-replay-id"
ORIGINAL_ID_HEADER = "eventdesk-original-id"
REPLAY_COUNT_HEADER = "eventdesk-replay-count"
_REPLAY_HEADERS = frozenset({REPLAY_ID_HEADER, ORIGINAL_ID_HEADER, REPLAY_COUNT_HEADER})

# Written by brokers on failed or moved messages without marking them dead letters; a
# stripped replay should look like a first delivery, so these go too.
_BROKER_DELIVERY_HEADERS = frozenset(
    {"x-death", "x-delivery-count", "x-shovelled", "x-shovelled-timestamp", "x-exception-cause"}
)

# Message attributes that are send options on some broker (AMQP properties, the SQS FIFO
# group); each connector uses those it knows. A FIFO deduplication id is left out on
# purpose: reusing the dead letter's would make SQS drop the replay as a duplicate.
_CARRIED_OPTIONS = (
    "content_type",
    "content_encoding",
    "message_id",
    "correlation_id",
    "type",
    "app_id",
    "reply_to",
    "priority",
    "delivery_mode",
    "MessageGroupId",
)


# Messages per batch when the options leave it to the engine. A batch on one Kafka
# connector is one transaction, and each costs round trips to the transaction coordinator
# and the review group whatever its size, so it carries many; elsewhere each batch is
# confirmed and settled before the next, and progress and cancelling go by batches.
DEFAULT_BATCH_SIZE = 100
TRANSACTION_BATCH_SIZE = 1_000
# ...and at most this many bytes of bodies per transaction, so one of big records still
# commits well inside the producer's transaction timeout (60 s). Headers are left out:
# Kafka keeps them small, and counting them would cost a walk over every header.
TRANSACTION_BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    strip_dead_letter_headers: bool = False
    add_replay_headers: bool = True
    # Loop guard: a message already replayed this many times is refused. None: no guard.
    max_replays: int | None = 3
    rate: float | None = None  # messages per second; None: as fast as the brokers confirm
    # None: the engine's choice (DEFAULT_BATCH_SIZE, or per Kafka transaction up to
    # TRANSACTION_BATCH_SIZE and TRANSACTION_BATCH_BYTES).
    batch_size: int | None = None
    timeout: float = 30.0
    # Canary: send the first K, wait this many seconds, and stop if any came straight back
    # to the dead-letter queue. 0: no canary.
    canary_count: int = 0
    canary_wait: float = 5.0

    def __post_init__(self) -> None:
        if self.canary_count < 0:
            raise ValueError("canary_count must not be negative")
        if self.canary_wait < 0:
            raise ValueError("canary_wait must not be negative")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.max_replays is not None and self.max_replays < 1:
            raise ValueError("max_replays must be at least 1")


class _Keep(enum.Enum):
    KEY = "the dead letter's own key"


KEEP_KEY = _Keep.KEY


@dataclass(frozen=True, slots=True)
class MessageEdit:
    """The operator's version of a dead letter: sent instead of its body (and headers).

    The dead letter itself stays what the browser holds, so settling still finds it.
    """

    body: bytes
    # None: the dead letter's own headers.
    headers: Headers | None = None
    # KEEP_KEY: the dead letter's own key; None sends no key.
    key: bytes | _Keep | None = KEEP_KEY


# Edits by the dead letter's Message.id; a message without one is sent as it is.
Edits = Mapping[str, MessageEdit]


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    sent: int
    failed: int
    total: int
    rate: float  # messages handled per second so far


@dataclass(frozen=True, slots=True)
class ReplayResult:
    action_id: str
    status: str  # the journal's final status: completed, failed, cancelled, interrupted
    # One per dead letter, in the order given; a message never attempted has none.
    outcomes: tuple[Outcome, ...]
    total: int
    detail: str = ""
    # Source ids of canary messages that came straight back to the DLQ (the replay stopped).
    canary_returned: tuple[str, ...] = ()
    # Interrupted because the broker went away or did not answer (not by the operator).
    link_broken: bool = False

    @property
    def succeeded(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    @property
    def ok(self) -> bool:
        return self.status == "completed" and self.succeeded == self.total


ProgressCallback = Callable[[ReplayProgress], None]


# Sources of replays read from a JSON Lines file (connectors/jsonl.py): nothing to resume.
IMPORTED_SOURCE_PREFIX = "file:"


class ResumeRefused(EventdeskError):
    """The journal entry cannot be resumed (unknown, finished, or still running elsewhere)."""

    hint = "List what can be resumed with `eventdesk history --unfinished`."


# -- what gets sent ------------------------------------------------------------------------


def header_int(value: HeaderValue) -> int | None:
    """A counter header as a number, whichever broker carried it (int, text or bytes)."""
    if value is None or isinstance(value, bool):
        # None first: most dead letters were never replayed, and int("None") raising
        # ValueError cost 1.6 µs a message.
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def replay_count(message: Message) -> int:
    """How often Eventdesk replayed this message before (0 if never)."""
    return header_int(message.header(REPLAY_COUNT_HEADER)) or 0


def idempotency_key(message: Message) -> str:
    """The id consumers deduplicate on: the first dead letter's id, kept across replays."""
    existing = message.header(ORIGINAL_ID_HEADER)
    if isinstance(existing, bytes | bytearray):
        existing = bytes(existing).decode("utf-8", "replace")
    return str(existing) if existing else message.id


def refusal(message: Message, options: ReplayOptions) -> str | None:
    """Why the loop guard refuses to replay this message, or None."""
    count = replay_count(message)
    if options.max_replays is not None and count >= options.max_replays:
        return (
            f"refused: already replayed {count} times (limit {options.max_replays}); "
            "it keeps failing, so look at why before replaying it again"
        )
    return None


def _strip(name: str) -> bool:
    return is_dead_letter_header(name) or name in _BROKER_DELIVERY_HEADERS


def outgoing_for(
    message: Message, options: ReplayOptions, replay_id: str, edit: MessageEdit | None = None
) -> Outgoing:
    """The dead letter exactly as the replay sends it; the preview shows this same value.

    With an `edit`, its body and headers replace the dead letter's; the replay headers
    still count and key on the original.
    """
    base = message.headers if edit is None or edit.headers is None else edit.headers
    headers: list[tuple[str, Any]] = [
        (name, value)
        for name, value in base
        if not (options.add_replay_headers and name in _REPLAY_HEADERS)
        and not (options.strip_dead_letter_headers and _strip(name))
    ]
    if options.add_replay_headers:
        # Text values: every broker carries text (Kafka as UTF-8 bytes, SQS as String).
        headers += [
            (REPLAY_ID_HEADER, replay_id),
            (ORIGINAL_ID_HEADER, idempotency_key(message)),
            (REPLAY_COUNT_HEADER, str(replay_count(message) + 1)),
        ]
    carried = {
        name: message.attributes[name]
        for name in _CARRIED_OPTIONS
        if message.attributes.get(name) not in (None, "")
    }
    return Outgoing(
        source_id=message.id,
        body=message.body if edit is None else edit.body,
        key=message.key if edit is None or edit.key is KEEP_KEY else edit.key,
        headers=tuple(headers),
        options=carried,
    )


def default_target(message: Message) -> str | None:
    return message.dead_letter.original_destination or None


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """One message of a dry run: where it would go and what would be sent, or why not."""

    message: Message
    target: str | None
    outgoing: Outgoing | None
    refused: str | None = None


def preview(
    dead_letters: Sequence[Message],
    target: str | None,
    *,
    options: ReplayOptions,
    replay_id: str = "(assigned when the replay starts)",
    edits: Edits | None = None,
    connector: Connector | None = None,
) -> list[PreviewItem]:
    """What a replay would do with each message; changes nothing. Given the target's
    `connector`, each message is shown as that connector will send it."""
    edits = edits or {}
    items: list[PreviewItem] = []
    for message in dead_letters:
        destination = target or default_target(message)
        reason = refusal(message, options) or (
            None if destination else "no original destination known: choose a target"
        )
        outgoing = None
        if not reason:
            outgoing = outgoing_for(message, options, replay_id, edits.get(message.id))
            if connector is not None and destination:
                outgoing = connector.as_sent(destination, outgoing)
        items.append(
            PreviewItem(message=message, target=destination, outgoing=outgoing, refused=reason)
        )
    return items


def headers_json(headers: Headers) -> list[list[Any]]:
    """Headers as JSON-able pairs (bytes as text where they are text, else hex)."""
    pairs: list[list[Any]] = []
    for name, value in headers:
        pairs.append([name, _jsonable(value)])
    return pairs


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"hex": bytes(value).hex()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


# -- running -------------------------------------------------------------------------------


class _Run:
    """Bookkeeping shared by replay and discard: outcomes, progress, pacing, the end."""

    def __init__(
        self,
        journal: Journal,
        action_id: str,
        dead_letters: Sequence[Message],
        options: ReplayOptions,
        progress: ProgressCallback | None,
        cancel: asyncio.Event | None,
        *,
        total: int | None = None,
    ) -> None:
        self.journal = journal
        self.action_id = action_id
        self.total = len(dead_letters) if total is None else total
        self.options = options
        self.progress = progress
        self.cancel = cancel
        self.outcomes: dict[int, Outcome] = {}
        self.succeeded = 0
        self.started = time.monotonic()
        # Set by work() to end with this status and detail instead of "completed".
        self.stop: tuple[str, str] | None = None
        self.canary_returned: tuple[str, ...] = ()

    def record(self, positions: Sequence[int], outcomes: Sequence[Outcome]) -> None:
        sent_only = [Outcome(o.source_id, True, o.detail) for o in outcomes if _sent_not_settled(o)]
        final = [o for o in outcomes if not _sent_not_settled(o)]
        if sent_only:
            self.journal.record_outcomes(self.action_id, sent_only, state="sent")
        if final:
            self.journal.record_outcomes(self.action_id, final)
        for position, outcome in zip(positions, outcomes, strict=True):
            replaced = self.outcomes.get(position)
            if replaced is not None and replaced.ok:
                self.succeeded -= 1
            if outcome.ok:
                self.succeeded += 1
            self.outcomes[position] = outcome
        if self.progress is not None:
            ok = self.succeeded
            elapsed = max(time.monotonic() - self.started, 1e-6)
            try:
                self.progress(
                    ReplayProgress(
                        sent=ok,
                        failed=len(self.outcomes) - ok,
                        total=self.total,
                        rate=len(self.outcomes) / elapsed,
                    )
                )
            except Exception:
                # A broken progress display must not stop a replay half-way.
                log.exception("replay progress callback failed")

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    async def pace(self, handled: int) -> None:
        if self.options.rate is None:
            return
        due = self.started + handled / self.options.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def result(self, status: str, detail: str, dead_letters: Sequence[Message]) -> ReplayResult:
        self.journal.finish(self.action_id, status, detail)
        return ReplayResult(
            action_id=self.action_id,
            status=status,
            outcomes=tuple(self.outcomes[p] for p in sorted(self.outcomes)),
            total=self.total,
            detail=detail,
            canary_returned=self.canary_returned,
        )


def _sent_not_settled(outcome: Outcome) -> bool:
    # Connector.send_and_settle's words for a message that reached the target but is
    # still on the DLQ: journaled as "sent" so a resume does not count it as lost.
    return (
        not outcome.ok
        and outcome.detail.startswith("sent (")
        and "but not settled" in (outcome.detail)
    )


async def _guarded(
    run: _Run, dead_letters: Sequence[Message], work: Callable[[], Awaitable[None]]
) -> ReplayResult:
    """Run the batches; turn every way of stopping into a journal status."""
    run.journal.set_status(run.action_id, "running")
    run.journal.claim(run.action_id)
    try:
        await work()
    except asyncio.CancelledError:
        # The batch in flight may be half done: resume will look at the brokers again.
        run.journal.finish(run.action_id, "interrupted", "stopped while a batch was in flight")
        raise
    except CONNECTION_ERRORS as exc:
        result = run.result("interrupted", f"{type(exc).__name__}: {exc}", dead_letters)
        return replace(result, link_broken=True)
    except EventdeskError as exc:
        return run.result("failed", f"{type(exc).__name__}: {exc}", dead_letters)
    except BaseException as exc:
        # Not known to be final: resume looks at the brokers again, so offer it.
        run.journal.finish(run.action_id, "interrupted", f"unexpected: {exc!r}")
        raise
    if run.stop is not None:
        return run.result(run.stop[0], run.stop[1], dead_letters)
    if run.cancelled() and len(run.outcomes) < run.total:
        return run.result("cancelled", "cancelled by the operator between batches", dead_letters)
    failed = sum(1 for o in run.outcomes.values() if not o.ok)
    return run.result(
        "completed",
        f"{run.total - failed} of {run.total} done" + (f", {failed} failed" if failed else ""),
        dead_letters,
    )


async def replay(
    source_connector: Connector,
    browser: Browser,
    dead_letters: Sequence[Message],
    target_connector: Connector,
    target: str | None,
    *,
    options: ReplayOptions,
    journal: Journal,
    progress: ProgressCallback | None = None,
    cancel: asyncio.Event | None = None,
    source_connection: str = "",
    target_connection: str | None = None,
    action_id: str | None = None,
    edits: Edits | None = None,
) -> ReplayResult:
    """Replay browsed dead letters to `target` (None: each one's original destination).

    On one connector the connector publishes and settles (`send_and_settle`); across
    connectors the target confirms first and the source browser settles what it confirmed.
    Refused (loop guard) and target-less messages fail without being sent. `edits` (by
    message id) are sent instead of those dead letters' bodies and headers; the journal
    keeps each original's payload hash beside the edited version.
    """
    edits = dict(edits or {})
    source = getattr(browser, "endpoint", "") or (dead_letters[0].endpoint if dead_letters else "")
    targets = {m.id: (target or default_target(m) or "") for m in dead_letters}
    record = journal.start_action(
        kind="replay",
        source_connection=source_connection or source_connector.kind.value,
        source=source,
        target_connection=target_connection or target_connector.kind.value,
        target=target or "(original destinations)",
        options=asdict(options) | ({"edited_messages": len(edits)} if edits else {}),
        messages=[_planned(m, targets[m.id], edits.get(m.id)) for m in dead_letters],
        status="planned",
        action_id=action_id,
    )
    run = _Run(journal, record.id, dead_letters, options, progress, cancel)
    same = target_connector is source_connector

    async def work() -> None:
        await _replay_all(
            run,
            list(enumerate(dead_letters)),
            targets,
            same,
            source_connector,
            browser,
            target_connector,
            canary_source=source,
            edits=edits,
        )

    return await _guarded(run, dead_letters, work)


def _planned(message: Message, target: str, edit: MessageEdit | None) -> PlannedMessage:
    return PlannedMessage(
        message.id,
        payload_sha256(message.body),
        target or None,
        edited_body=None if edit is None else edit.body,
        edited_headers=None if edit is None else edit.headers,
        edited_key=None if edit is None or edit.key is KEEP_KEY else edit.key,
        key_edited=edit is not None and edit.key is not KEEP_KEY,
    )


async def _replay_all(
    run: _Run,
    items: list[tuple[int, Message]],
    targets: Mapping[str, str],
    same: bool,
    source_connector: Connector,
    browser: Browser,
    target_connector: Connector,
    *,
    canary_source: str | None,
    edits: Edits,
) -> None:
    """Replay in batches, with the canary first when the options ask for one."""

    async def send(batch: list[tuple[int, Message]]) -> None:
        await _replay_batch(
            run, batch, targets, same, source_connector, browser, target_connector, edits
        )

    options = run.options
    count, max_bytes = _batch_limits(options, same and _transactional(source_connector))
    start = 0
    if options.canary_count and canary_source is not None and items:
        canary = items[: options.canary_count]
        for batch in _batches(canary, count, max_bytes):
            await send(batch)
        start = len(canary)
        sent = [m for p, m in canary if run.outcomes.get(p) is not None and run.outcomes[p].ok]
        if sent:
            await asyncio.sleep(options.canary_wait)
            back = await _came_back(
                source_connector, canary_source, sent, run.action_id, options, edits
            )
            if back:
                run.canary_returned = tuple(back)
                untouched = len(items) - start
                run.stop = (
                    "failed",
                    f"canary: {len(back)} of {len(sent)} replayed message(s) came straight back "
                    f"to {canary_source} within {options.canary_wait:g} s; stopped, the other "
                    f"{untouched} were not sent",
                )
                return
    handled = start
    for batch in _batches(items[start:], count, max_bytes):
        if run.cancelled():
            return
        await send(batch)
        handled += len(batch)
        await run.pace(handled)


def _batch_limits(options: ReplayOptions, transactional: bool) -> tuple[int, int | None]:
    """Messages per batch, and bytes per batch (None: no limit), for these options."""
    if options.batch_size is not None:
        count, max_bytes = options.batch_size, None
    elif transactional:
        count, max_bytes = TRANSACTION_BATCH_SIZE, TRANSACTION_BATCH_BYTES
    else:
        count, max_bytes = DEFAULT_BATCH_SIZE, None
    if options.rate is not None:
        # Paced per batch: a batch never holds more than a second's worth.
        count = max(1, min(count, int(options.rate)))
    return count, max_bytes


def _batches(
    items: Iterable[tuple[int, Message]], count: int, max_bytes: int | None
) -> Iterator[list[tuple[int, Message]]]:
    """`items` in order, in batches of at most `count` messages and `max_bytes` of bodies.

    A body bigger than `max_bytes` goes in a batch of its own.
    """
    batch: list[tuple[int, Message]] = []
    held = 0
    for item in items:
        size = len(item[1].body)
        if batch and (len(batch) >= count or (max_bytes is not None and held + size > max_bytes)):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += size
    if batch:
        yield batch


async def _came_back(
    connector: Connector,
    dlq: str,
    sent: Sequence[Message],
    replay_id: str,
    options: ReplayOptions,
    edits: Edits,
) -> list[str]:
    """Source ids of `sent` whose replayed copy is in the DLQ again (a fresh browse).

    With replay headers a copy is known by this replay's id and the idempotency key;
    without them, by its payload (the edited one where it was edited).
    """
    keys = {idempotency_key(m): m.id for m in sent}
    hashes = {payload_sha256(_sent_body(m, edits)): m.id for m in sent}
    ids = {m.id for m in sent}
    back: dict[str, None] = {}
    async with connector.browse(dlq) as fresh:
        while True:
            page = await fresh.next_page(timeout=options.timeout)
            for message in page.messages:
                if options.add_replay_headers:
                    if _text(message.header(REPLAY_ID_HEADER)) != replay_id:
                        continue
                    source_id = keys.get(_text(message.header(ORIGINAL_ID_HEADER)) or "")
                else:
                    source_id = (
                        None if message.id in ids else hashes.get(payload_sha256(message.body))
                    )
                if source_id is not None:
                    back[source_id] = None
            if not page.more:
                return list(back)


def _sent_body(message: Message, edits: Edits) -> bytes:
    edit = edits.get(message.id)
    return message.body if edit is None else edit.body


def _text(value: HeaderValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _transactional(connector: Connector) -> bool:
    """Whether the connector replays in one step of its own (Kafka's transaction)."""
    return type(connector).send_and_settle is not Connector.send_and_settle


async def _replay_batch(
    run: _Run,
    batch: list[tuple[int, Message]],
    targets: Mapping[str, str],
    same: bool,
    source_connector: Connector,
    browser: Browser,
    target_connector: Connector,
    edits: Edits,
) -> None:
    options = run.options
    replay_id = run.action_id
    refused: list[tuple[int, Outcome]] = []
    by_target: dict[str, list[tuple[int, Message]]] = {}
    for position, message in batch:
        reason = refusal(message, options)
        if reason is None and not targets[message.id]:
            reason = "no original destination known: choose a target"
        if reason:
            refused.append((position, Outcome(message.id, False, reason)))
        else:
            by_target.setdefault(targets[message.id], []).append((position, message))
    if refused:
        run.record([p for p, _ in refused], [o for _, o in refused])
    for destination, items in by_target.items():
        positions = [p for p, _ in items]
        letters = [m for _, m in items]
        outgoing = [outgoing_for(m, options, replay_id, edits.get(m.id)) for m in letters]
        # Otherwise send, journal "sent", then settle: a fault between the confirmation and
        # the settle then leaves a journal that says the copy is out, so resume settles it
        # without sending it again.
        if same and _transactional(source_connector):
            outcomes = await source_connector.send_and_settle(
                destination, outgoing, browser, letters, timeout=options.timeout
            )
            run.record(positions, outcomes)
            continue
        sent = await target_connector.send(destination, outgoing, timeout=options.timeout)
        confirmed = [(p, m, o) for p, m, o in zip(positions, letters, sent, strict=True) if o.ok]
        failed = [(p, o) for p, o in zip(positions, sent, strict=True) if not o.ok]
        if failed:
            run.record([p for p, _ in failed], [o for _, o in failed])
        if not confirmed:
            continue
        # Journal "sent" before settling: if we die now, resume knows these reached the target.
        run.journal.record_outcomes(run.action_id, [o for _, _, o in confirmed], state="sent")
        settled = await browser.settle([m for _, m, _ in confirmed], timeout=options.timeout)
        final = [
            Outcome(o.source_id, True, f"{o.detail}; {s.detail}")
            if s.ok
            else Outcome(o.source_id, False, f"sent ({o.detail}) but not settled: {s.detail}")
            for (_, _, o), s in zip(confirmed, settled, strict=True)
        ]
        run.record([p for p, _, _ in confirmed], final)


# -- resuming ------------------------------------------------------------------------------

# How long a resume waits before it looks again for messages missing from the DLQ: a
# killed replayer's held deliveries go back to the queue a moment after its link closes.
_RECHECK_DELAY = 1.0
_RECHECK_FOR = 30.0
# A resume started just after a broker restart can meet it still recovering (coordinators
# loading, the interrupted transaction being aborted) and time out. Resuming is safe to
# repeat, so it tries again itself, as an operator would, before reporting "interrupted".
RESUME_ATTEMPTS = 3
_RESUME_RETRY_DELAY = 5.0


def options_from_journal(stored: Mapping[str, Any]) -> ReplayOptions:
    """The ReplayOptions an action was started with, as the journal stored them."""
    known = set(ReplayOptions.__dataclass_fields__)
    return ReplayOptions(**{k: v for k, v in stored.items() if k in known})


async def resume(
    action_id: str,
    source_connector: Connector,
    target_connector: Connector,
    *,
    journal: Journal,
    options: ReplayOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: asyncio.Event | None = None,
) -> ReplayResult:
    """Finish an interrupted replay from its journal entry, sending nothing confirmed twice.

    Settled messages are skipped. Sent-but-not-settled ones are settled if still in the
    DLQ, never sent again. Pending ones still in the DLQ (for Kafka: not handled by the
    review group) are replayed; those gone from it (nothing hidden) are journaled as
    presumed settled before the fault. The canary is not repeated. A resume that loses
    the broker is tried again, up to RESUME_ATTEMPTS in all. Returns the result of the
    last attempt.
    """
    attempt = 1
    while True:
        result = await _resume_once(
            action_id, source_connector, target_connector,
            journal=journal, options=options, progress=progress, cancel=cancel,
        )  # fmt: skip
        cancelled = cancel is not None and cancel.is_set()
        if not result.link_broken or cancelled or attempt >= RESUME_ATTEMPTS:
            return result
        log.warning(
            "resuming %s: attempt %d of %d interrupted (%s); trying again in %g s",
            action_id, attempt, RESUME_ATTEMPTS, result.detail, _RESUME_RETRY_DELAY,
        )  # fmt: skip
        if await _cancelled_within(cancel, _RESUME_RETRY_DELAY):
            return result
        attempt += 1


async def _cancelled_within(cancel: asyncio.Event | None, seconds: float) -> bool:
    """Waits `seconds`, or less if `cancel` is set meanwhile; whether it was."""
    if cancel is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cancel.wait(), seconds)
    return cancel.is_set()


async def _resume_once(
    action_id: str,
    source_connector: Connector,
    target_connector: Connector,
    *,
    journal: Journal,
    options: ReplayOptions | None,
    progress: ProgressCallback | None,
    cancel: asyncio.Event | None,
) -> ReplayResult:
    record = journal.action(action_id)
    if record is None:
        raise ResumeRefused(f"No journal entry {action_id}.")
    if record.kind != "replay":
        raise ResumeRefused(f"Journal entry {action_id} is a {record.kind}, not a replay.")
    if record.status in FINISHED_STATUSES:
        raise ResumeRefused(f"Journal entry {action_id} is already {record.status}.")
    if record.source.startswith(IMPORTED_SOURCE_PREFIX):
        raise ResumeRefused(
            f"Journal entry {action_id} replayed {record.source}, an imported file: there is no"
            " queue to look at again.",
            hint="Import the file again and replay what did not arrive.",
        )
    if record.status in ("planned", "running") and journal.owner_alive(action_id):
        raise ResumeRefused(
            f"Journal entry {action_id} is still running in another process.",
            hint="Wait for it to finish, or stop that process first.",
        )
    options = options or options_from_journal(record.options)
    if options.canary_count:
        options = ReplayOptions(**{**asdict(options), "canary_count": 0})
    todo = [m for m in record.messages if m.state in ("pending", "sent")]
    run = _Run(journal, action_id, [], options, progress, cancel, total=len(todo))
    same = target_connector is source_connector
    dlq = record.source

    async def work() -> None:
        async with AsyncExitStack() as stack:
            deadline = time.monotonic() + _RECHECK_FOR
            while True:
                browser = await stack.enter_async_context(source_connector.browse(dlq))
                present = await _unhandled_by_id(browser, options.timeout)
                uncertain = browser.incomplete
                if source_connector.kind == "kafka" or all(m.source_id in present for m in todo):
                    # Kafka's review group is exact, and nothing missing needs no explaining.
                    break
                # A queue may still be taking back what the interrupted process held: call
                # nothing gone while the DLQ holds messages this browse could not see.
                hidden = await _hidden_count(source_connector, dlq, present, options.timeout)
                if not hidden or uncertain:
                    break
                if time.monotonic() >= deadline:
                    uncertain = (
                        f"{hidden} message(s) of {dlq} stay hidden from view (held by another "
                        "reader, or by the interrupted replay until the broker gives them back)"
                    )
                    break
                await stack.aclose()
                await asyncio.sleep(_RECHECK_DELAY)
            await _resume_in(
                run, todo, present, uncertain, same, source_connector, browser, target_connector
            )

    return await _guarded(run, [], work)


async def _resume_in(
    run: _Run,
    todo: Sequence[MessageRecord],
    present: dict[str, list[Message]],
    uncertain: str | None,
    same: bool,
    source_connector: Connector,
    browser: Browser,
    target_connector: Connector,
) -> None:
    gone: list[tuple[int, Outcome]] = []
    mismatched: list[tuple[int, Outcome]] = []
    settle_only: list[tuple[int, Message]] = []
    resend: list[tuple[int, Message]] = []
    targets: dict[str, str] = {}
    edits: dict[str, MessageEdit] = {}
    left_alone = 0
    for position, planned in enumerate(todo):
        found = present.get(planned.source_id)
        message = found.pop(0) if found else None
        if message is None:
            if uncertain:
                left_alone += 1
                continue
            # A pending one may have been acked in the moment between its confirmation and
            # the journal's "sent": the absence (seen twice, nothing hidden) is the evidence,
            # and the detail says it is a presumption.
            detail = (
                "sent before the interruption; no longer in the DLQ"
                if planned.state == "sent"
                else "no longer in the DLQ when resumed; presumed settled by the interrupted "
                "replay (its confirmation was not journaled)"
            )
            gone.append((position, Outcome(planned.source_id, True, detail)))
        elif payload_sha256(message.body) != planned.payload_sha256:
            mismatched.append(
                (
                    position,
                    Outcome(planned.source_id, False, "not resumed: its payload differs now"),
                )
            )
        elif planned.state == "sent":
            settle_only.append((position, message))
        else:
            targets[message.id] = planned.target or default_target(message) or ""
            if planned.edited_body is not None:
                key = planned.edited_key if planned.key_edited else KEEP_KEY
                edits[message.id] = MessageEdit(planned.edited_body, planned.edited_headers, key)
            resend.append((position, message))
    for done in (gone, mismatched):
        if done:
            run.record([p for p, _ in done], [o for _, o in done])
    if settle_only:
        settled = await browser.settle([m for _, m in settle_only], timeout=run.options.timeout)
        run.record(
            [p for p, _ in settle_only],
            [
                Outcome(s.source_id, True, f"sent before the interruption; {s.detail}")
                if s.ok
                else Outcome(s.source_id, False, f"sent (before) but not settled: {s.detail}")
                for s in settled
            ],
        )
    await _replay_all(
        run,
        resend,
        targets,
        same,
        source_connector,
        browser,
        target_connector,
        canary_source=None,
        edits=edits,
    )
    if left_alone and run.stop is None:
        run.stop = (
            "interrupted",
            f"{left_alone} message(s) not found in the DLQ and left pending ({uncertain}); "
            "resume again later",
        )


async def _unhandled_by_id(browser: Browser, timeout: float) -> dict[str, list[Message]]:
    """Every message still to handle in the DLQ, by id (Kafka: not marked handled)."""
    present: dict[str, list[Message]] = {}
    while True:
        page = await browser.next_page(timeout=timeout)
        for message in page.messages:
            if message.attributes.get("handled") != "yes":
                present.setdefault(message.id, []).append(message)
        if not page.more:
            return present


async def _hidden_count(
    connector: Connector, dlq: str, present: Mapping[str, list[Message]], timeout: float
) -> int:
    """Messages the DLQ holds beyond those the browse showed (Kafka: 0, it hides nothing)."""
    if connector.kind == "kafka":
        return 0
    seen = sum(len(v) for v in present.values())
    depth = await connector.depth(dlq, timeout=timeout)
    # RabbitMQ counts ready messages only, and the browse holds all it showed.
    return max(0, depth - (0 if connector.kind == "rabbitmq" else seen))


async def discard(
    browser: Browser,
    dead_letters: Sequence[Message],
    *,
    journal: Journal,
    source_connection: str = "",
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: asyncio.Event | None = None,
) -> ReplayResult:
    """Settle (ack, delete, or move the review group past) these dead letters, journaled."""
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    source = getattr(browser, "endpoint", "") or (dead_letters[0].endpoint if dead_letters else "")
    options = ReplayOptions(batch_size=batch_size, max_replays=None, add_replay_headers=False)
    record = journal.start_action(
        kind="discard",
        source_connection=source_connection,
        source=source,
        options={"batch_size": batch_size},
        messages=[PlannedMessage(m.id, payload_sha256(m.body)) for m in dead_letters],
        status="planned",
    )
    run = _Run(journal, record.id, dead_letters, options, progress, cancel)

    async def work() -> None:
        for start in range(0, len(dead_letters), batch_size):
            if run.cancelled():
                return
            batch = dead_letters[start : start + batch_size]
            outcomes = await browser.settle(batch, timeout=options.timeout)
            run.record(list(range(start, start + len(batch))), outcomes)

    return await _guarded(run, dead_letters, work)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "KEEP_KEY",
    "ORIGINAL_ID_HEADER",
    "REPLAY_COUNT_HEADER",
    "REPLAY_ID_HEADER",
    "TRANSACTION_BATCH_BYTES",
    "TRANSACTION_BATCH_SIZE",
    "Edits",
    "MessageEdit",
    "PreviewItem",
    "ReplayOptions",
    "ReplayProgress",
    "ReplayResult",
    "ResumeRefused",
    "default_target",
    "discard",
    "headers_json",
    "idempotency_key",
    "options_from_journal",
    "outgoing_for",
    "preview",
    "refusal",
    "replay",
    "replay_count",
    "resume",
]
