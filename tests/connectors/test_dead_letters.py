"""Dead-letter header parsing: each framework's headers as its broker delivers them."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eventdesk.connectors.dead_letters import (
    dead_letter_source_from_name,
    header_text,
    is_dead_letter_header,
    parse_dead_letter,
)
from eventdesk.connectors.model import NO_DEAD_LETTER_FACTS

SPRING_CAUSE_TRACE = (
    "org.springframework.amqp.rabbit.support.ListenerExecutionFailedException: Listener failed\n"
    "\tat org.springframework.amqp.rabbit.listener.AbstractMessageListenerContainer"
    ".wrapToListenerExecutionFailedExceptionIfNeeded(AbstractMessageListenerContainer.java:1750)\n"
    "Caused by: java.lang.IllegalStateException: order 17 has no lines\n"
    "\tat com.example.orders.OrderListener.onOrder(OrderListener.java:42)\n"
    "Caused by: java.lang.NullPointerException\n"
    "\t... 12 more\n"
)


def _int32(value: int) -> bytes:
    return struct.pack(">i", value)


def _int64(value: int) -> bytes:
    return struct.pack(">q", value)


# --- Spring Kafka -------------------------------------------------------------------------------


def test_spring_kafka_value_failure_reads_binary_integers_and_prefers_the_cause():
    headers = (
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", _int32(3)),
        ("kafka_dlt-original-offset", _int64(4_294_967_301)),
        ("kafka_dlt-original-timestamp", _int64(1_714_558_830_123)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", b"billing"),
        (
            "kafka_dlt-exception-fqcn",
            b"org.springframework.kafka.listener.ListenerExecutionFailedException",
        ),
        ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"Listener method threw exception"),
        (
            "kafka_dlt-exception-stacktrace",
            b"java.lang.IllegalStateException: x\n\tat A.b(A.java:1)",
        ),
        ("traceparent", b"00-abc-def-01"),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "spring-kafka"
    assert facts.original_destination == "orders"
    assert facts.original_partition == 3
    assert facts.original_offset == 4_294_967_301
    assert facts.exception_type == "java.lang.IllegalStateException"
    assert facts.exception_message == "Listener method threw exception"
    assert facts.stack_trace.startswith("java.lang.IllegalStateException: x\n\tat A.b")
    assert facts.failed_service == "billing"
    assert facts.first_failure is None  # the original timestamp is a produce time
    assert facts.extra == {
        "kafka_dlt-original-timestamp": "2024-05-01T10:20:30.123000+00:00",
        "kafka_dlt-original-timestamp-type": "CreateTime",
        "kafka_dlt-exception-fqcn": (
            "org.springframework.kafka.listener.ListenerExecutionFailedException"
        ),
    }
    assert facts.summary == "IllegalStateException: Listener method threw exception"


def test_spring_kafka_key_failure_uses_the_key_exception_headers():
    headers = (
        ("kafka_dlt-original-topic", b"payments"),
        ("kafka_dlt-original-partition", _int32(0)),
        ("kafka_dlt-original-offset", _int64(7)),
        (
            "kafka_dlt-key-exception-fqcn",
            b"org.springframework.kafka.support.serializer.DeserializationException",
        ),
        ("kafka_dlt-key-exception-message", b"failed to deserialize; nested exception"),
        ("kafka_dlt-key-exception-stacktrace", b"DeserializationException\n\tat ..."),
    )

    facts = parse_dead_letter(headers)

    assert facts.reason == "key deserialization failed"
    assert facts.exception_type == (
        "org.springframework.kafka.support.serializer.DeserializationException"
    )
    assert facts.exception_message == "failed to deserialize; nested exception"
    assert facts.stack_trace == "DeserializationException\n\tat ..."
    assert (facts.original_partition, facts.original_offset) == (0, 7)


def test_spring_kafka_retryable_topic_attempts_and_the_last_repeated_header_wins():
    headers = (
        ("kafka_dlt-original-topic", b"orders-retry-0"),
        ("retry_topic-attempts", _int32(2)),
        ("kafka_dlt-original-topic", b"orders-retry-1"),
        ("retry_topic-attempts", _int32(4)),
        ("kafka_dlt-exception-message", b"still failing"),
    )

    facts = parse_dead_letter(headers)

    assert facts.original_destination == "orders-retry-1"
    assert facts.attempts == 4


def test_spring_kafka_negative_partition_is_read_as_signed():
    # Spring writes -1 for "no partition" in some paths; it must not become 4294967295.
    facts = parse_dead_letter((("kafka_dlt-original-partition", _int32(-1)),))

    assert facts.original_partition == -1


# --- Kafka Connect and SmallRye -----------------------------------------------------------------


def test_kafka_connect_context_headers():
    headers = (
        ("__connect.errors.topic", b"inventory"),
        ("__connect.errors.partition", b"2"),
        ("__connect.errors.offset", b"1055"),
        ("__connect.errors.connector.name", b"jdbc-sink"),
        ("__connect.errors.task.id", b"0"),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.class.name", b"io.confluent.connect.avro.AvroConverter"),
        ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
        ("__connect.errors.exception.message", b"Unknown magic byte!"),
        ("__connect.errors.exception.stacktrace", b"org.apache.kafka...DataException: ..."),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "kafka-connect"
    assert facts.original_destination == "inventory"
    assert (facts.original_partition, facts.original_offset) == (2, 1055)
    assert facts.failed_service == "jdbc-sink (task 0)"
    assert facts.reason == "failed in stage VALUE_CONVERTER"
    assert facts.exception_type == "org.apache.kafka.connect.errors.DataException"
    assert facts.exception_message == "Unknown magic byte!"
    assert facts.stack_trace == "org.apache.kafka...DataException: ..."
    assert facts.extra == {"__connect.errors.class.name": "io.confluent.connect.avro.AvroConverter"}


def test_smallrye_headers():
    headers = (
        ("dead-letter-exception-class-name", b"java.lang.RuntimeException"),
        ("dead-letter-reason", b"Something went wrong"),
        ("dead-letter-cause", b"connection reset"),
        ("dead-letter-topic", b"movies"),
        ("dead-letter-partition", b"1"),
        ("dead-letter-offset", b"99"),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "smallrye"
    assert facts.original_destination == "movies"
    assert (facts.original_partition, facts.original_offset) == (1, 99)
    assert facts.summary == "RuntimeException: Something went wrong"
    assert facts.extra == {"dead-letter-cause": "connection reset"}


def test_x_original_topic_and_watermill_poison_queue():
    original = parse_dead_letter((("x-original-topic", b"clicks"),))
    poisoned = parse_dead_letter(
        (
            ("topic_poisoned", b"orders"),
            ("reason_poisoned", b"dial tcp 10.0.0.5:5432: connection refused"),
            ("handler_poisoned", b"order_projector"),
            ("subscriber_poisoned", b"kafka.Subscriber"),
        )
    )

    assert (original.convention, original.original_destination) == ("x-original-topic", "clicks")
    assert poisoned.convention == "watermill"
    assert poisoned.original_destination == "orders"
    assert poisoned.exception_message == "dial tcp 10.0.0.5:5432: connection refused"
    assert poisoned.failed_service == "order_projector"
    assert poisoned.extra == {"subscriber_poisoned": "kafka.Subscriber"}


# --- RabbitMQ -----------------------------------------------------------------------------------

FIRST_DEATH = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _retry_loop_deaths() -> list[dict]:
    """x-death as aio-pika delivers it after orders -> orders.wait (TTL) -> orders, 3 times."""
    return [
        {
            "count": 3,
            "reason": "rejected",
            "queue": "orders",
            "time": FIRST_DEATH,
            "exchange": "",
            "routing-keys": ["orders"],
        },
        {
            "count": 2,
            "reason": "expired",
            "queue": "orders.wait",
            "time": FIRST_DEATH + timedelta(seconds=5),
            "exchange": "orders.dlx",
            "routing-keys": ["orders"],
            "original-expiration": "5000",
        },
    ]


def test_x_death_retry_loop_counts_deaths_in_the_newest_queue():
    headers = (
        ("x-death", _retry_loop_deaths()),
        ("x-first-death-exchange", ""),
        ("x-first-death-queue", "orders"),
        ("x-first-death-reason", "rejected"),
        ("x-last-death-exchange", ""),
        ("x-last-death-queue", "orders"),
        ("x-last-death-reason", "rejected"),
        ("x-delivery-count", 9),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "rabbitmq x-death"
    assert facts.original_destination == "orders"
    assert facts.reason == "rejected"
    assert facts.attempts == 3  # deaths in "orders"; x-delivery-count is only a fallback
    assert facts.first_failure == FIRST_DEATH
    assert facts.last_failure == FIRST_DEATH + timedelta(seconds=5)
    assert facts.extra["x-death"] == "orders rejected ×3; orders.wait expired ×2"
    assert facts.extra["x-death exchange"] == "(default exchange)"
    assert facts.extra["x-death routing-keys"] == "orders"
    assert facts.extra["x-first-death-queue"] == "orders"
    assert facts.extra["x-delivery-count"] == "9"


def test_x_death_counts_every_reason_for_the_same_queue():
    deaths = [
        {"count": 1, "reason": "delivery_limit", "queue": "jobs", "time": FIRST_DEATH},
        {"count": 2, "reason": "rejected", "queue": "jobs", "time": FIRST_DEATH},
    ]

    facts = parse_dead_letter((("x-death", deaths),))

    assert facts.attempts == 3
    assert facts.reason == "delivery_limit"


def test_x_death_with_bytes_values_naive_times_and_epoch_seconds():
    deaths = [
        {
            b"count": 4,
            b"reason": b"expired",
            b"queue": b"invoices",
            b"time": datetime(2024, 5, 1, 12, 0, 0),  # naive: read as UTC
            b"exchange": b"billing",
            b"routing-keys": [b"invoice.created", b"invoice.any"],
            b"original-expiration": b"60000",
        },
        {"count": 1, "reason": "rejected", "queue": "invoices.in", "time": 1_714_550_400},
    ]

    facts = parse_dead_letter((("x-death", deaths),))

    assert facts.original_destination == "invoices"
    assert facts.reason == "expired"
    assert facts.attempts == 4
    assert facts.first_failure == datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)
    assert facts.last_failure == datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert facts.extra["x-death exchange"] == "billing"
    assert facts.extra["x-death routing-keys"] == "invoice.created, invoice.any"
    assert facts.extra["x-death original-expiration"] == "60000"


def test_first_and_last_death_headers_alone_still_name_the_queue():
    headers = (
        ("x-first-death-queue", "emails"),
        ("x-first-death-reason", "maxlen"),
        ("x-first-death-exchange", "notify"),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "rabbitmq x-death"
    assert (facts.original_destination, facts.reason) == ("emails", "maxlen")
    assert facts.extra == {"x-first-death-exchange": "notify"}


def test_x_delivery_count_alone_is_not_a_dead_letter_but_counts_attempts_on_one():
    redelivered = parse_dead_letter((("x-delivery-count", 5),))
    failed = parse_dead_letter((("x-delivery-count", 5), ("x-first-death-queue", "jobs")))

    assert redelivered is NO_DEAD_LETTER_FACTS
    assert failed.attempts == 5


def test_spring_amqp_exception_combined_with_x_death_counts():
    headers = (
        ("x-exception-message", "order 17 has no lines"),
        ("x-exception-stacktrace", SPRING_CAUSE_TRACE),
        ("x-original-exchange", "shop"),
        ("x-original-routingKey", "order.created"),
        ("x-death", _retry_loop_deaths()),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "spring-amqp"
    assert facts.exception_type == "java.lang.IllegalStateException"  # the first cause
    assert facts.exception_message == "order 17 has no lines"
    assert facts.stack_trace == SPRING_CAUSE_TRACE
    # Through a named exchange the routing key is not a queue: x-death names the queue.
    assert facts.original_destination == "orders"
    assert facts.attempts == 3
    assert facts.extra["x-original-exchange"] == "shop"
    assert facts.extra["x-original-routingKey"] == "order.created"


def test_spring_amqp_through_the_default_exchange_replays_to_the_routing_key():
    headers = (
        ("x-exception-message", "boom"),
        ("x-exception-stacktrace", "java.lang.IllegalArgumentException: boom\n\tat A.b(A.java:3)"),
        ("x-original-exchange", ""),
        ("x-original-routingKey", "payments"),
    )

    facts = parse_dead_letter(headers)

    assert facts.original_destination == "payments"
    assert facts.exception_type == "java.lang.IllegalArgumentException"


def test_masstransit_fault_headers():
    headers = (
        ("MT-Reason", "fault"),
        ("MT-Fault-ExceptionType", "System.InvalidOperationException"),
        ("MT-Fault-Message", "Order 17 was already shipped"),
        ("MT-Fault-StackTrace", "   at Shop.ShipOrderConsumer.Consume(...)"),
        ("MT-Fault-Timestamp", "2024-05-01T10:20:30.1234567Z"),
        ("MT-Fault-InputAddress", "rabbitmq://rabbit.local/shop/ship-order?bind=true"),
        ("MT-Fault-MessageType", "urn:message:Shop:ShipOrder"),
        ("MT-Fault-ConsumerType", "Shop.ShipOrderConsumer"),
        ("MT-Fault-RetryCount", 4),
        ("MT-Fault-RedeliveryCount", 1),
        ("MT-Host-MachineName", "WEB01"),
        ("MT-Host-ProcessName", "Shop.Worker"),
        ("MT-OriginalMessageId", "0b1e0000-5d0a-0015-0b8a-08dc69c3a1f2"),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "masstransit"
    assert facts.original_destination == "ship-order"
    assert facts.reason == "fault"
    assert facts.summary == "InvalidOperationException: Order 17 was already shipped"
    assert facts.stack_trace == "   at Shop.ShipOrderConsumer.Consume(...)"
    assert facts.attempts == 5  # the first try plus four retries
    assert facts.last_failure == datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert facts.failed_service == "Shop.Worker (host WEB01)"
    assert facts.extra["MT-Fault-ConsumerType"] == "Shop.ShipOrderConsumer"
    assert facts.extra["MT-Fault-RedeliveryCount"] == "1"


def test_masstransit_short_queue_address():
    facts = parse_dead_letter((("MT-Fault-InputAddress", "queue:submit-order"),))

    assert facts.original_destination == "submit-order"


def test_nservicebus_failure_headers():
    headers = (
        ("NServiceBus.FailedQ", "Sales@WEB02"),
        ("NServiceBus.TimeOfFailure", "2024-05-01 10:20:30:123456 Z"),
        ("NServiceBus.ExceptionInfo.ExceptionType", "System.TimeoutException"),
        ("NServiceBus.ExceptionInfo.InnerExceptionType", "System.Net.Sockets.SocketException"),
        ("NServiceBus.ExceptionInfo.Message", "The operation has timed out."),
        ("NServiceBus.ExceptionInfo.Source", "Sales"),
        ("NServiceBus.ExceptionInfo.StackTrace", "System.TimeoutException: ...\n   at Sales.X"),
        ("NServiceBus.ProcessingEndpoint", "Sales"),
        ("NServiceBus.ProcessingMachine", "WEB02"),
        ("NServiceBus.MessageId", "ad0c6ce4-1e7b-4b5a-9d0e-b12400a5c3f0"),
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "nservicebus"
    assert facts.original_destination == "Sales"
    assert facts.last_failure == datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert facts.summary == "TimeoutException: The operation has timed out."
    assert facts.stack_trace == "System.TimeoutException: ...\n   at Sales.X"
    assert facts.failed_service == "Sales (host WEB02)"
    assert facts.extra == {
        "NServiceBus.ExceptionInfo.InnerExceptionType": "System.Net.Sockets.SocketException",
        "NServiceBus.ExceptionInfo.Source": "Sales",
    }


# --- SQS and Lambda -----------------------------------------------------------------------------


def test_sqs_redrive_system_attributes():
    attributes = {
        "ApproximateReceiveCount": "6",
        "SentTimestamp": "1714558800000",
        "ApproximateFirstReceiveTimestamp": "1714558830123",
        "DeadLetterQueueSourceArn": "arn:aws:sqs:eu-west-1:123456789012:orders",
        "SenderId": "AIDAEXAMPLE",
    }

    facts = parse_dead_letter((), attributes=attributes)

    assert facts.convention == "sqs redrive"
    assert facts.original_destination == "orders"
    assert facts.reason == "maxReceiveCount exceeded"
    assert facts.attempts == 6
    assert facts.first_failure == datetime(2024, 5, 1, 10, 20, 30, 123000, tzinfo=UTC)
    assert facts.extra == {"SentTimestamp": "2024-05-01T10:20:00+00:00"}


def test_sqs_attributes_without_a_source_arn_are_not_a_dead_letter():
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": "1714558800000"}

    assert parse_dead_letter((), attributes=attributes) is NO_DEAD_LETTER_FACTS


def test_lambda_async_invocation_dead_letter():
    headers = (
        ("RequestID", "e3c1f4d2-9a57-4bde-8f0b-1c2d3e4f5a6b"),
        ("ErrorCode", "200"),
        ("ErrorMessage", b"Task timed out after 3.00 seconds"),
    )

    facts = parse_dead_letter(headers, attributes={"ApproximateReceiveCount": "1"})

    assert facts.convention == "lambda"
    assert facts.reason == "error code 200"
    assert facts.summary == "Task timed out after 3.00 seconds"
    assert facts.attempts is None  # SQS counts the DLQ's own receives, not the function's
    assert facts.extra == {
        "RequestID": "e3c1f4d2-9a57-4bde-8f0b-1c2d3e4f5a6b",
        "ApproximateReceiveCount": "1",
    }


# --- Names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("orders.DLT", "orders"),
        ("orders-dlt", "orders"),
        ("orders.dlq", "orders"),
        ("Orders-DLQ", "Orders"),
        ("orders_dlq", "orders"),
        ("submit-order_error", "submit-order"),
        ("dlq.orders", "orders"),
        ("DLQ-orders.v2", "orders.v2"),
        ("error", ""),
        ("Error", ""),
    ],
)
def test_dead_letter_names(name, source):
    assert dead_letter_source_from_name(name) == source


@pytest.mark.parametrize("name", ["orders", "orders-retry-0", "dlq", ".DLT", "errors", "dlqorders"])
def test_names_that_are_not_dead_letter_queues(name):
    assert dead_letter_source_from_name(name) is None


def test_dead_letter_header_names():
    assert is_dead_letter_header("kafka_dlt-original-topic")
    assert is_dead_letter_header("__connect.errors.topic")
    assert is_dead_letter_header("x-death")
    assert is_dead_letter_header("MT-Fault-Message")
    assert is_dead_letter_header("NServiceBus.FailedQ")
    assert is_dead_letter_header("topic_poisoned")
    assert not is_dead_letter_header("KAFKA_DLT-original-topic")  # names are case-sensitive
    assert not is_dead_letter_header("x-delivery-count")
    assert not is_dead_letter_header("retry_topic-attempts")
    assert not is_dead_letter_header("content-type")


# --- Rendering ----------------------------------------------------------------------------------


def test_header_text_renders_each_kind_of_value():
    assert header_text(b"orders") == "orders"
    assert header_text("ünïcode") == "ünïcode"
    assert header_text(_int32(3)) == "0x00000003"  # valid UTF-8, but binary
    assert header_text(b"\xff\xfe") == "0xfffe"
    assert header_text(None) == ""
    assert header_text(True) == "true"
    assert header_text(42) == "42"
    assert header_text(FIRST_DEATH) == "2024-05-01T10:00:00+00:00"
    assert header_text(_retry_loop_deaths()[:1]) == (
        "[{count: 3, reason: rejected, queue: orders, time: 2024-05-01T10:00:00+00:00, "
        "exchange: , routing-keys: [orders]}]"
    )


def test_header_text_truncates_long_binary_and_deep_nesting():
    nested: list = []
    nested.append(nested)  # a table that contains itself

    assert header_text(b"\x00" * 1000) == "0x" + "00" * 32 + "… (1000 bytes)"
    assert header_text(nested) == "[[[[[[…]]]]]]"


# --- Hostile input ------------------------------------------------------------------------------


def test_invalid_utf8_names_are_left_out_and_shown_as_hex():
    headers = (
        ("kafka_dlt-original-topic", b"ord\xffers"),
        ("kafka_dlt-exception-message", b"bad \xff byte"),
    )

    facts = parse_dead_letter(headers)

    assert facts.original_destination is None
    assert facts.extra["kafka_dlt-original-topic"] == "0x" + b"ord\xffers".hex()
    assert facts.exception_message == "bad \ufffd byte"


def test_wrong_size_integers_and_garbage_times_are_left_raw():
    headers = (
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", b"\x00\x03"),
        ("kafka_dlt-original-offset", b"\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
        ("kafka_dlt-original-timestamp", _int64(2**62)),
        ("MT-Fault-Timestamp", "yesterday-ish"),
        ("NServiceBus.TimeOfFailure", "2024-13-45 99:99:99:000000 Z"),
    )

    facts = parse_dead_letter(headers)

    assert facts.original_destination == "orders"
    assert (facts.original_partition, facts.original_offset) == (None, None)
    assert facts.last_failure is None
    assert facts.extra["kafka_dlt-original-partition"] == "0x0003"
    assert facts.extra["kafka_dlt-original-offset"] == "0x000000000000000001"
    assert facts.extra["kafka_dlt-original-timestamp"] == "0x4000000000000000"
    assert facts.extra["MT-Fault-Timestamp"] == "yesterday-ish"


def test_a_one_megabyte_stack_trace_is_kept_whole():
    trace = ("\tat com.example.Deep.recurse(Deep.java:7)\n" * 25_000).encode()
    assert len(trace) > 1_000_000

    facts = parse_dead_letter(
        (("kafka_dlt-exception-stacktrace", trace), ("kafka_dlt-exception-message", b"deep"))
    )

    assert facts.stack_trace == trace.decode()
    assert facts.exception_message == "deep"


def test_null_values_and_malformed_header_entries_are_skipped():
    headers = (
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-topic", None),  # the last value wins, and it is null
        ("kafka_dlt-exception-message", None),
        ("kafka_dlt-original-consumer-group", b"billing"),
        ("lonely",),
        (b"bytes-name", b"x"),
        None,
    )

    facts = parse_dead_letter(headers)

    assert facts.convention == "spring-kafka"
    assert facts.original_destination is None
    assert facts.exception_message is None
    assert facts.failed_service == "billing"


def test_malformed_x_death_is_shown_raw():
    headers = (("x-death", "not a list"), ("x-first-death-queue", b"\xff"))

    facts = parse_dead_letter(headers)

    assert facts.convention == "rabbitmq x-death"
    assert facts.original_destination is None
    assert facts.extra == {"x-death": "not a list", "x-first-death-queue": "0xff"}


HOSTILE_VALUES = [
    b"",
    b"\xff\xfe\xfd",
    b"\x00\x00\x00",
    _int64(-(2**63)),
    _int64(2**63 - 1),
    "",
    "   ",
    "9" * 5000,
    -1,
    2**200,
    1.5,
    float("nan"),
    True,
    [],
    [None, 1, "x", [b"\xff"]],
    [{"count": "many", "time": "soon", "routing-keys": "orders"}, {}, None],
    [{"count": 2**70, "time": 2**70, "queue": ["orders"]}],
    {"nested": {"deeper": [b"\x00"]}},
    datetime.min,
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
    object(),
]

EVERY_KNOWN_NAME = [
    "kafka_dlt-original-topic",
    "kafka_dlt-original-partition",
    "kafka_dlt-original-offset",
    "kafka_dlt-original-timestamp",
    "kafka_dlt-exception-cause-fqcn",
    "kafka_dlt-exception-message",
    "kafka_dlt-exception-stacktrace",
    "retry_topic-attempts",
    "__connect.errors.partition",
    "__connect.errors.task.id",
    "dead-letter-offset",
    "x-death",
    "x-first-death-queue",
    "x-delivery-count",
    "x-exception-stacktrace",
    "x-original-exchange",
    "x-original-routingKey",
    "MT-Fault-InputAddress",
    "MT-Fault-Timestamp",
    "MT-Fault-RetryCount",
    "NServiceBus.FailedQ",
    "NServiceBus.TimeOfFailure",
    "ErrorCode",
    "DeadLetterQueueSourceArn",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SentTimestamp",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=lambda value: type(value).__name__)
def test_no_hostile_value_under_any_known_name_breaks_parsing(value):
    headers = tuple((name, value) for name in EVERY_KNOWN_NAME)

    facts = parse_dead_letter(headers, attributes={"ApproximateReceiveCount": value})

    assert facts.convention == "spring-kafka"
    assert all(isinstance(text, str) for text in facts.extra.values())
    for moment in (facts.first_failure, facts.last_failure):
        assert moment is None or moment.utcoffset() == timedelta(0)
    assert isinstance(facts.summary, str)


def test_a_plain_message_has_no_dead_letter_facts():
    facts = parse_dead_letter((("content-type", b"application/json"), ("traceparent", b"00-a")))

    assert facts is NO_DEAD_LETTER_FACTS
    assert facts.is_empty
