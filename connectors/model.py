"""The broker-neutral data Eventdesk works with: endpoints, messages, dead-letter facts."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Header values as each broker delivers them: bytes (Kafka), AMQP table values
# (str, int, bool, float, bytes, datetime, lists, nested dicts; RabbitMQ), str or
# bytes (SQS message attributes). Kept as they came; rendering is the GUI's job.
HeaderValue = Any
Headers = tuple[tuple[str, HeaderValue], ...]


class BrokerKind(enum.StrEnum):
    KAFKA = "kafka"
    RABBITMQ = "rabbitmq"
    SQS = "sqs"
    NATS = "nats"


class EndpointKind(enum.StrEnum):
    TOPIC = "topic"
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A topic or queue, and whether it holds dead letters."""

    name: str
    kind: EndpointKind
    depth: int | None = None
    is_dead_letter: bool = False
    # Endpoints whose failures land here (for a DLQ), by name.
    fed_by: tuple[str, ...] = ()
    # Why it counts as a DLQ: "x-dead-letter-exchange of orders", "name ends in .DLT", ...
    dead_letter_evidence: str = ""
    # Broker-specific facts worth showing: partitions, queue URL, ARN, vhost.
    details: Mapping[str, str] = field(default_factory=dict)
    # What a replay may send to for this endpoint, where that is not its own name: a
    # JetStream stream takes publishes on its literal subjects; () when nothing can.
    send_names: tuple[str, ...] | None = None

    def replay_targets(self) -> tuple[str, ...]:
        return (self.name,) if self.send_names is None else self.send_names


@dataclass(frozen=True, slots=True)
class DeadLetterFacts:
    """What a dead letter says about its failure, in one form for every framework.

    Every field is optional: a plain message on a DLQ has none of them.
    """

    convention: str | None = None  # e.g. "spring-kafka", "rabbitmq x-death", "sqs redrive"
    original_destination: str | None = None  # the default replay target
    original_partition: int | None = None
    original_offset: int | None = None
    reason: str | None = None  # short: "rejected", "expired", "maxReceiveCount exceeded", ...
    exception_type: str | None = None
    exception_message: str | None = None
    stack_trace: str | None = None
    attempts: int | None = None
    first_failure: datetime | None = None
    last_failure: datetime | None = None
    failed_service: str | None = None
    # Convention headers that were present but did not map to a field above.
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for a table cell: the exception if known, else the broker's reason."""
        if self.exception_type or self.exception_message:
            short_type = (self.exception_type or "").rsplit(".", 1)[-1]
            if short_type and self.exception_message:
                return f"{short_type}: {self.exception_message}"
            return short_type or self.exception_message or ""
        return self.reason or ""

    @property
    def is_empty(self) -> bool:
        return self.convention is None


NO_DEAD_LETTER_FACTS = DeadLetterFacts()


@dataclass(frozen=True, slots=True)
class Message:
    """One message as browsed: its envelope, its bytes, and what its headers say of its failure."""

    endpoint: str
    # Stable identity within the endpoint: Kafka "partition:offset", RabbitMQ
    # message-id (or a content hash), SQS MessageId.
    id: str
    body: bytes
    key: bytes | None = None
    headers: Headers = ()
    timestamp: datetime | None = None
    dead_letter: DeadLetterFacts = NO_DEAD_LETTER_FACTS
    # Broker facts that are not headers: partition, offset, redelivered,
    # ApproximateReceiveCount, content-type, ... (name -> display text).
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.body)

    def header(self, name: str) -> HeaderValue | None:
        """The last value of a header (Kafka allows repeats; the newest one wins)."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a browse: messages in endpoint order, and whether more may follow."""

    messages: Sequence[Message]
    more: bool


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message exactly as a replay will send it: what the preview shows, byte for byte."""

    source_id: str  # the dead letter's Message.id
    body: bytes
    key: bytes | None = None
    headers: Headers = ()
    # Broker-specific send options, e.g. SQS MessageGroupId / MessageDeduplicationId,
    # AMQP content_type / message_id / correlation_id.
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message in a send, settle or replay."""

    source_id: str
    ok: bool
    # On success: where it went (offset, message id); on failure: the broker's reason.
    detail: str = ""
