"""Read the headers that frameworks write on dead letters into one `DeadLetterFacts`.

Also knows how dead-letter topics and queues are named, and renders header values for display.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .model import NO_DEAD_LETTER_FACTS, DeadLetterFacts, Headers, HeaderValue

__all__ = [
    "DLQ_NAME_PATTERNS",
    "dead_letter_source_from_name",
    "header_text",
    "is_dead_letter_header",
    "parse_dead_letter",
]

# --- Which names mark a dead letter -------------------------------------------------------------

# Headers whose presence alone says "this message failed somewhere else first".
_MARKER_NAMES = frozenset(
    {
        "x-death",
        "x-exception-message",
        "x-exception-stacktrace",
        "x-original-exchange",
        "x-original-routingKey",
        "x-original-topic",
        "MT-Reason",
        "NServiceBus.FailedQ",
        "NServiceBus.TimeOfFailure",
        "topic_poisoned",
        "reason_poisoned",
        "handler_poisoned",
        "subscriber_poisoned",
        "ErrorCode",
        "ErrorMessage",
        "DeadLetterQueueSourceArn",
    }
)
_MARKER_PREFIXES = (
    "kafka_dlt-",
    "__connect.errors.",
    "dead-letter-",
    "x-first-death-",
    "x-last-death-",
    "MT-Fault-",
    "NServiceBus.ExceptionInfo.",
)

# Headers the conventions write that also ride on messages that never failed (a redelivered
# message has x-delivery-count, every SQS message has ApproximateReceiveCount), so they add
# detail to a dead letter but do not make one.
_DETAIL_NAMES = frozenset(
    {
        "x-delivery-count",
        "x-shovelled",
        "x-shovelled-timestamp",
        "MT-Host-MachineName",
        "MT-Host-ProcessName",
        "MT-OriginalMessageId",
        "NServiceBus.ProcessingEndpoint",
        "NServiceBus.ProcessingMachine",
        "RequestID",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SentTimestamp",
    }
)
_DETAIL_PREFIXES = ("retry_topic-",)


def is_dead_letter_header(name: str) -> bool:
    """Whether a header of this name marks its message as a dead letter.

    Detail-only headers such as `x-delivery-count` or `retry_topic-attempts` are not markers:
    they also appear on messages that are merely being retried.
    """
    return name in _MARKER_NAMES or name.startswith(_MARKER_PREFIXES)


def _is_convention_header(name: str) -> bool:
    return is_dead_letter_header(name) or name in _DETAIL_NAMES or name.startswith(_DETAIL_PREFIXES)


# --- Topic and queue names ----------------------------------------------------------------------

# Each pattern captures the name of the endpoint whose failures land in the matching one.
DLQ_NAME_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Spring Kafka (.DLT, -dlt), the common .dlq/-dlq/_dlq, MassTransit (<queue>_error).
    re.compile(r"(?P<source>.+)(?:\.dlt|-dlt|\.dlq|-dlq|_dlq|_error)", re.IGNORECASE),
    re.compile(r"(?:dlq\.|dlq-)(?P<source>.+)", re.IGNORECASE),
)

# NServiceBus endpoints all share one queue named "error", so its name tells no source.
_SHARED_ERROR_QUEUE = "error"


def dead_letter_source_from_name(name: str) -> str | None:
    """Guess the source of a dead-letter topic or queue from its name alone.

    "orders.DLT" -> "orders", "dlq.orders" -> "orders", "orders_error" -> "orders". Returns ""
    for NServiceBus's shared "error" queue (a DLQ whose sources only its messages name), and
    None when the name follows no dead-letter convention.
    """
    if name.lower() == _SHARED_ERROR_QUEUE:
        return ""
    for pattern in DLQ_NAME_PATTERNS:
        match = pattern.fullmatch(name)
        if match:
            return match["source"]
    return None


# --- Rendering for display ----------------------------------------------------------------------

_HEX_PREVIEW_BYTES = 32
# Deep enough for x-death (a list of tables holding lists); a hostile self-nesting value stops here.
_MAX_NESTING = 6
# Text holding these is binary that happens to be valid UTF-8 (Spring's big-endian integers).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def header_text(value: HeaderValue) -> str:
    """Render any header value for display: text as text, binary as hex, tables as `{k: v}`."""
    return _render(value, _MAX_NESTING)


def _render(value: HeaderValue, depth: int) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_text(bytes(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if depth == 0:
        return "…"
    if isinstance(value, Mapping):
        items = (f"{_render(k, depth - 1)}: {_render(v, depth - 1)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(item, depth - 1) for item in value) + "]"
    return str(value)


def _bytes_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _hex(data)
    return _hex(data) if _CONTROL_CHARS.search(text) else text


def _hex(data: bytes) -> str:
    preview = "0x" + data[:_HEX_PREVIEW_BYTES].hex()
    if len(data) <= _HEX_PREVIEW_BYTES:
        return preview
    return f"{preview}… ({len(data)} bytes)"


# --- Decoding one value -------------------------------------------------------------------------
# Every decoder returns None for a value it cannot read, and never raises: a malformed header
# leaves its field empty and is shown raw in `extra` instead.

_DECIMAL = re.compile(r"\s*[+-]?\d{1,20}\s*")
_NSERVICEBUS_TIME = "%Y-%m-%d %H:%M:%S:%f Z"


def _text(value: HeaderValue) -> str | None:
    """Exact text, or None: a name with a replaced character would be a wrong replay target."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _prose(value: HeaderValue) -> str | None:
    """Text for people to read (messages, stack traces): a bad byte is replaced, not fatal."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return _text(value)


def _integer(value: HeaderValue, width: int | None = None) -> int | None:
    """An int from a number, decimal text, or (when `width` matches) big-endian binary."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if width is not None and len(data) == width:
            return int.from_bytes(data, "big", signed=True)
        value = data.decode("ascii", errors="replace")
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def _int32(value: HeaderValue) -> int | None:
    return _integer(value, width=4)


def _int64(value: HeaderValue) -> int | None:
    return _integer(value, width=8)


def _epoch_millis(value: HeaderValue) -> datetime | None:
    millis = _int64(value)
    return None if millis is None else _from_epoch(millis / 1000)


def _from_epoch(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _moment(value: HeaderValue) -> datetime | None:
    """A UTC time from a datetime, AMQP epoch seconds, ISO 8601 or NServiceBus's own format."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_epoch(value)
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    try:
        return _utc(datetime.strptime(text, _NSERVICEBUS_TIME))
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime | None:
    # A naive time on a dead letter is UTC: brokers and frameworks stamp in UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _queue_from_address(value: HeaderValue) -> str | None:
    """The queue a MassTransit address names: its last path segment.

    "rabbitmq://host/vhost/orders?bind=true" -> "orders"; "queue:orders" -> "orders".
    """
    text = _text(value)
    if not text:
        return None
    try:
        path = urlsplit(text.strip()).path
    except ValueError:
        return None
    return path.rstrip("/").rpartition("/")[2] or None


def _queue_from_arn(value: HeaderValue) -> str | None:
    """The queue name in an SQS ARN: "arn:aws:sqs:eu-west-1:123456789012:orders" -> "orders"."""
    parts = (_text(value) or "").strip().split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "sqs":
        return parts[5] or None
    return None


def _queue_without_machine(value: HeaderValue) -> str | None:
    """NServiceBus names a queue "Sales@MACHINE" on transports that route by machine."""
    queue = (_text(value) or "").partition("@")[0].strip()
    return queue or None


# Java's Throwable.toString(): a dotted class name, then ": message" or the end of the line.
_JAVA_CLASS = r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+"
_FIRST_CAUSE = re.compile(rf"^Caused by: ({_JAVA_CLASS})", re.MULTILINE)
_TOP_EXCEPTION = re.compile(rf"\s*({_JAVA_CLASS})(?::|\s*$)", re.MULTILINE)


def _exception_type_from_stack_trace(stack_trace: str | None) -> str | None:
    # Spring AMQP's trace starts with its own ListenerExecutionFailedException; the first cause
    # is what threw, and it is the one whose message x-exception-message carries.
    if not stack_trace:
        return None
    match = _FIRST_CAUSE.search(stack_trace) or _TOP_EXCEPTION.match(stack_trace)
    return match[1] if match else None


def _described(name: str | None, detail: str | None) -> str | None:
    """`name (detail)`, or whichever of the two is known."""
    if name and detail:
        return f"{name} ({detail})"
    return name or detail


# --- The headers of one message -----------------------------------------------------------------


# The prefixes readers test with has_prefix (none is a prefix of another).
_READER_PREFIXES = (
    "kafka_dlt-",
    "__connect.errors.",
    "dead-letter-",
    "MT-Fault-",
    "NServiceBus.ExceptionInfo.",
    "x-first-death-",
    "x-last-death-",
)


# Header names repeat from message to message: their prefix is looked up once (up to a
# bound, so a stream of unique names cannot grow it without end).
_PREFIX_OF: dict[str, str | None] = {}
_PREFIX_CACHE_LIMIT = 10_000


def _reader_prefix(name: str) -> str | None:
    try:
        return _PREFIX_OF[name]
    except KeyError:
        pass
    prefix = next((p for p in _READER_PREFIXES if name.startswith(p)), None)
    if len(_PREFIX_OF) < _PREFIX_CACHE_LIMIT:
        _PREFIX_OF[name] = prefix
    return prefix


def _header_dict(headers: Headers) -> dict[str, HeaderValue]:
    """Name -> last value (Kafka may repeat a header; the last one wins), leaving out any
    item that is not a pair with a text name."""
    try:
        values = dict(headers)
    except (TypeError, ValueError):
        values = None
    if values is not None and all(type(name) is str for name in values):
        return values
    values = {}
    for item in headers:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, str):
            values[name] = value
    return values


class _HeaderView:
    """The last value of each header and system attribute, remembering which ones were used.

    Whatever a reader does not use ends up in `extra`, so no convention header goes unseen.
    """

    def __init__(self, headers: Headers, attributes: Mapping[str, str] | None) -> None:
        values = _header_dict(headers)
        if attributes:
            values.update((n, v) for n, v in attributes.items() if isinstance(n, str))
        # A null value says nothing; a repeated header whose last value is null is absent.
        if None in values.values():
            values = {name: value for name, value in values.items() if value is not None}
        self._values = values
        self._used: set[str] = set()
        # Every reader asks for its prefix and browsing parses 100,000s of messages: one pass
        # over the names finds the prefixes the readers ask for.
        self._prefixes = set(map(_reader_prefix, values))

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def has_any(self, names: Iterable[str]) -> bool:
        return not self._values.keys().isdisjoint(names)

    def has_prefix(self, prefix: str) -> bool:
        if prefix in _READER_PREFIXES:
            return prefix in self._prefixes
        return any(name.startswith(prefix) for name in self._values)

    def peek(self, name: str) -> HeaderValue | None:
        """The raw value, without counting it as used."""
        return self._values.get(name)

    def take(self, name: str, decode: Callable[[HeaderValue], Any] = _text) -> Any:
        """The decoded value, counted as used only when it decoded."""
        value = self._values.get(name)
        if value is None:
            return None
        decoded = decode(value)
        if decoded is not None:
            self._used.add(name)
        return decoded

    def unused(self) -> dict[str, str]:
        return {
            name: header_text(value)
            for name, value in self._values.items()
            if name not in self._used and _is_convention_header(name)
        }


# --- One reader per convention ------------------------------------------------------------------
# Each returns None when its convention is absent. A reader may return facts with no convention:
# details (like x-delivery-count) that only count once some convention says "dead letter".


def _read_spring_kafka(view: _HeaderView) -> DeadLetterFacts | None:
    if not view.has_prefix("kafka_dlt-"):
        return None
    # Spring writes kafka_dlt-key-exception-* instead when the key could not be deserialized.
    key_failed = not view.has_any(("kafka_dlt-exception-fqcn", "kafka_dlt-exception-message"))
    exception = "kafka_dlt-key-exception" if key_failed else "kafka_dlt-exception"
    extra = {}
    # The record's original produce time, not a failure time: shown, not put in first_failure.
    original_timestamp = view.take("kafka_dlt-original-timestamp", _epoch_millis)
    if original_timestamp:
        extra["kafka_dlt-original-timestamp"] = original_timestamp.isoformat()
    return DeadLetterFacts(
        convention="spring-kafka",
        original_destination=view.take("kafka_dlt-original-topic"),
        original_partition=view.take("kafka_dlt-original-partition", _int32),
        original_offset=view.take("kafka_dlt-original-offset", _int64),
        reason="key deserialization failed" if key_failed else None,
        # The fqcn is usually Spring's ListenerExecutionFailedException wrapper; the cause is
        # what the operator needs. An unused wrapper name stays visible in `extra`.
        exception_type=(
            view.take("kafka_dlt-exception-cause-fqcn") or view.take(f"{exception}-fqcn")
        ),
        exception_message=view.take(f"{exception}-message", _prose),
        stack_trace=view.take(f"{exception}-stacktrace", _prose),
        # Written only by non-blocking retries (@RetryableTopic): every attempt, the first included.
        attempts=view.take("retry_topic-attempts", _int32),
        failed_service=view.take("kafka_dlt-original-consumer-group"),
        extra=extra,
    )


def _read_kafka_connect(view: _HeaderView) -> DeadLetterFacts | None:
    if not view.has_prefix("__connect.errors."):
        return None
    stage = view.take("__connect.errors.stage")
    task = view.take("__connect.errors.task.id")
    return DeadLetterFacts(
        convention="kafka-connect",
        original_destination=view.take("__connect.errors.topic"),
        original_partition=view.take("__connect.errors.partition", _integer),
        original_offset=view.take("__connect.errors.offset", _integer),
        reason=f"failed in stage {stage}" if stage else None,
        exception_type=view.take("__connect.errors.exception.class.name"),
        exception_message=view.take("__connect.errors.exception.message", _prose),
        stack_trace=view.take("__connect.errors.exception.stacktrace", _prose),
        failed_service=_described(
            view.take("__connect.errors.connector.name"), f"task {task}" if task else None
        ),
    )


def _read_smallrye(view: _HeaderView) -> DeadLetterFacts | None:
    if not view.has_prefix("dead-letter-"):
        return None
    return DeadLetterFacts(
        convention="smallrye",
        original_destination=view.take("dead-letter-topic"),
        original_partition=view.take("dead-letter-partition", _integer),
        original_offset=view.take("dead-letter-offset", _integer),
        exception_type=view.take("dead-letter-exception-class-name"),
        # SmallRye's "reason" is Throwable.getMessage(); the cause's message stays in `extra`.
        exception_message=view.take("dead-letter-reason", _prose),
    )


def _read_masstransit(view: _HeaderView) -> DeadLetterFacts | None:
    if not (view.has_prefix("MT-Fault-") or "MT-Reason" in view):
        return None
    # RetryCount counts retries after the first try; redeliveries stay in `extra`.
    retries = view.take("MT-Fault-RetryCount", _integer)
    machine = view.take("MT-Host-MachineName")
    return DeadLetterFacts(
        convention="masstransit",
        original_destination=view.take("MT-Fault-InputAddress", _queue_from_address),
        reason=view.take("MT-Reason"),
        exception_type=view.take("MT-Fault-ExceptionType"),
        exception_message=view.take("MT-Fault-Message", _prose),
        stack_trace=view.take("MT-Fault-StackTrace", _prose),
        attempts=None if retries is None else retries + 1,
        last_failure=view.take("MT-Fault-Timestamp", _moment),
        failed_service=_described(
            view.take("MT-Host-ProcessName"), f"host {machine}" if machine else None
        ),
    )


def _read_nservicebus(view: _HeaderView) -> DeadLetterFacts | None:
    if not (
        view.has_prefix("NServiceBus.ExceptionInfo.")
        or view.has_any(("NServiceBus.FailedQ", "NServiceBus.TimeOfFailure"))
    ):
        return None
    machine = view.take("NServiceBus.ProcessingMachine")
    return DeadLetterFacts(
        convention="nservicebus",
        original_destination=view.take("NServiceBus.FailedQ", _queue_without_machine),
        exception_type=view.take("NServiceBus.ExceptionInfo.ExceptionType"),
        exception_message=view.take("NServiceBus.ExceptionInfo.Message", _prose),
        stack_trace=view.take("NServiceBus.ExceptionInfo.StackTrace", _prose),
        last_failure=view.take("NServiceBus.TimeOfFailure", _moment),
        failed_service=_described(
            view.take("NServiceBus.ProcessingEndpoint"), f"host {machine}" if machine else None
        ),
    )


def _read_spring_amqp(view: _HeaderView) -> DeadLetterFacts | None:
    names = ("x-exception-message", "x-exception-stacktrace")
    routing = ("x-original-exchange", "x-original-routingKey")
    if not view.has_any(names + routing):
        return None
    stack_trace = view.take("x-exception-stacktrace", _prose)
    # Through the default exchange the routing key is the queue's name. Through any other
    # exchange the queue depends on bindings, so both stay in `extra` for the operator.
    through_default_exchange = _text(view.peek("x-original-exchange")) == ""
    return DeadLetterFacts(
        convention="spring-amqp",
        original_destination=(
            view.take("x-original-routingKey") if through_default_exchange else None
        ),
        exception_type=_exception_type_from_stack_trace(stack_trace),
        exception_message=view.take("x-exception-message", _prose),
        stack_trace=stack_trace,
    )


def _read_watermill(view: _HeaderView) -> DeadLetterFacts | None:
    if "topic_poisoned" not in view:
        return None
    return DeadLetterFacts(
        convention="watermill",
        original_destination=view.take("topic_poisoned"),
        # Watermill's reason is the handler's err.Error(): a message, not a category.
        exception_message=view.take("reason_poisoned", _prose),
        failed_service=view.take("handler_poisoned"),
    )


def _read_lambda(view: _HeaderView) -> DeadLetterFacts | None:
    if not view.has_any(("ErrorCode", "ErrorMessage")):
        return None
    code = view.take("ErrorCode")
    return DeadLetterFacts(
        convention="lambda",
        reason=f"error code {code}" if code else None,
        exception_message=view.take("ErrorMessage", _prose),
    )


@dataclass(frozen=True, slots=True)
class _Death:
    """One x-death entry: how often the message died in one queue for one reason."""

    queue: str | None
    reason: str | None
    count: int
    time: datetime | None
    exchange: str | None
    routing_keys: tuple[str, ...]
    original_expiration: str | None

    @classmethod
    def from_table(cls, table: Mapping[Any, HeaderValue]) -> _Death:
        entry = {_text(key): value for key, value in table.items()}
        count = _integer(entry.get("count"))
        keys = entry.get("routing-keys")
        return cls(
            queue=_text(entry.get("queue")),
            reason=_text(entry.get("reason")),
            # An entry exists only once the message died there, so it counts at least once.
            count=count if count is not None and count > 0 else 1,
            time=_moment(entry.get("time")),
            exchange=_text(entry.get("exchange")),
            routing_keys=tuple(
                key for key in map(_text, keys if isinstance(keys, list | tuple) else ()) if key
            ),
            original_expiration=_text(entry.get("original-expiration")),
        )


def _deaths(value: HeaderValue) -> list[_Death] | None:
    if not isinstance(value, list | tuple):
        return None
    deaths = [_Death.from_table(entry) for entry in value if isinstance(entry, Mapping)]
    return deaths or None


def _read_rabbitmq_deaths(view: _HeaderView) -> DeadLetterFacts | None:
    found = (
        "x-death" in view or view.has_prefix("x-first-death-") or view.has_prefix("x-last-death-")
    )
    if not found:
        # On a quorum queue every redelivered message has x-delivery-count: a detail only.
        delivery_count = view.take("x-delivery-count", _integer)
        return None if delivery_count is None else DeadLetterFacts(attempts=delivery_count)
    deaths = view.take("x-death", _deaths) or []
    latest = deaths[0] if deaths else None  # RabbitMQ keeps the newest death first.
    queue = (
        (latest.queue if latest else None)
        or view.take("x-last-death-queue")
        or view.take("x-first-death-queue")
    )
    # Attempts are the deaths in the queue the message is replayed to. x-delivery-count is only
    # a fallback: on a quorum DLQ it also counts the DLQ's own deliveries, browsing included.
    died_there = [death.count for death in deaths if death.queue == queue]
    attempts = sum(died_there) if died_there else view.take("x-delivery-count", _integer)
    # RabbitMQ stamps an entry when it is created and only counts later deaths in it.
    times = [death.time for death in deaths if death.time]
    return DeadLetterFacts(
        convention="rabbitmq x-death",
        original_destination=queue,
        reason=(
            (latest.reason if latest else None)
            or view.take("x-last-death-reason")
            or view.take("x-first-death-reason")
        ),
        attempts=attempts,
        first_failure=min(times, default=None),
        last_failure=max(times, default=None),
        extra=_death_extra(deaths),
    )


def _death_extra(deaths: list[_Death]) -> dict[str, str]:
    if not deaths:
        return {}
    latest = deaths[0]
    extra = {
        "x-death": "; ".join(
            f"{death.queue or '?'} {death.reason or '?'} ×{death.count}" for death in deaths
        )
    }
    if latest.exchange is not None:
        extra["x-death exchange"] = latest.exchange or "(default exchange)"
    if latest.routing_keys:
        extra["x-death routing-keys"] = ", ".join(latest.routing_keys)
    if latest.original_expiration:
        extra["x-death original-expiration"] = latest.original_expiration
    return extra


def _read_sqs_redrive(view: _HeaderView) -> DeadLetterFacts | None:
    # Only messages SQS itself moved carry the source ARN; the other system attributes are on
    # every SQS message and would mislead on, say, a Lambda DLQ's fresh messages.
    if "DeadLetterQueueSourceArn" not in view:
        return None
    extra = {}
    sent = view.take("SentTimestamp", _epoch_millis)
    if sent:
        extra["SentTimestamp"] = sent.isoformat()
    return DeadLetterFacts(
        convention="sqs redrive",
        original_destination=view.take("DeadLetterQueueSourceArn", _queue_from_arn),
        reason="maxReceiveCount exceeded",
        # SQS counts every receive, so this includes receives from the DLQ (browsing too).
        attempts=view.take("ApproximateReceiveCount", _integer),
        # The first receive is the first attempt to process it: its first chance to fail.
        first_failure=view.take("ApproximateFirstReceiveTimestamp", _epoch_millis),
        extra=extra,
    )


def _read_original_topic(view: _HeaderView) -> DeadLetterFacts | None:
    if "x-original-topic" not in view:
        return None
    return DeadLetterFacts(
        convention="x-original-topic", original_destination=view.take("x-original-topic")
    )


# Most informative first: when several conventions apply (Spring AMQP's exception on top of
# RabbitMQ's x-death), the first names the convention and each field comes from the first
# reader that knows it.
_READERS: tuple[Callable[[_HeaderView], DeadLetterFacts | None], ...] = (
    _read_spring_kafka,
    _read_kafka_connect,
    _read_smallrye,
    _read_masstransit,
    _read_nservicebus,
    _read_spring_amqp,
    _read_watermill,
    _read_lambda,
    _read_rabbitmq_deaths,
    _read_sqs_redrive,
    _read_original_topic,
)


def parse_dead_letter(
    headers: Headers, *, attributes: Mapping[str, str] | None = None
) -> DeadLetterFacts:
    """What a message's headers (and broker system attributes) say about its failure.

    Never raises on malformed values: what cannot be decoded is left out of the fields and
    shown raw in `extra`. A message that follows no convention gets `NO_DEAD_LETTER_FACTS`.
    """
    view = _HeaderView(headers, attributes)
    found = [facts for read in _READERS if (facts := read(view)) is not None]
    if not any(facts.convention for facts in found):
        return NO_DEAD_LETTER_FACTS
    return _merge(found, leftovers=view.unused())


_MERGED_FIELDS = tuple(field.name for field in fields(DeadLetterFacts) if field.name != "extra")


def _merge(found: list[DeadLetterFacts], *, leftovers: Mapping[str, str]) -> DeadLetterFacts:
    if len(found) == 1:
        # The common case: one framework wrote the headers; what it left goes to extra.
        only = found[0]
        if not leftovers:
            return only
        # Built from its fields, not with dataclasses.replace: a third of a browse's parse.
        values = {name: getattr(only, name) for name in _MERGED_FIELDS}
        values.update({name: None for name, value in values.items() if value == ""})
        extra = dict(only.extra)
        for name, text in leftovers.items():
            extra.setdefault(name, text)
        return DeadLetterFacts(**values, extra=extra)
    values = {
        name: next((value for facts in found if _known(value := getattr(facts, name))), None)
        for name in _MERGED_FIELDS
    }
    extra: dict[str, str] = {}
    for facts in found:
        for name, text in facts.extra.items():
            extra.setdefault(name, text)
    for name, text in leftovers.items():
        extra.setdefault(name, text)
    return DeadLetterFacts(**values, extra=extra)


def _known(value: object) -> bool:
    # An empty string says nothing, and must not hide what a later convention knows.
    return value is not None and value != ""
