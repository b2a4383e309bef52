"""Real messages in every format, produced to the real Kafka and RabbitMQ, browsed back through
the connectors and decoded the way an endpoint's setting says.

Schema ids are resolved through RegistryClient against the recorded Confluent-shaped registry
of test_schema_registry.py (no real registry can run here; that module says why).
"""

from __future__ import annotations

import io
import json
import random
import struct
from collections.abc import AsyncIterator, Iterator

import aio_pika
import fastavro
import pytest
from aiokafka import AIOKafkaProducer
from eventdesk.connectors.decoding import DecodedKind
from eventdesk.connectors.endpoint_decoding import EndpointDecoder, EndpointDecoding
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.kafka import KafkaConnector
from eventdesk.connectors.model import Message
from eventdesk.connectors.protobuf_decoding import write_message_indexes
from eventdesk.connectors.rabbitmq import RabbitMQConnector
from eventdesk.connectors.schema_registry import RegistryClient
from eventdesk.connectors.schemas import load_schema, sample_schema_path, validate
from google.protobuf import json_format, message_factory

from tests.conftest import RabbitMQSettings
from tests.connectors.test_schema_registry import AVRO_ID, JSON_ID, PROTO_ID, RecordedRegistry
from tests.seed.kafka import BINARY_PAYLOAD, create_topic
from tests.seed.orders import order

ORDER_DESC = sample_schema_path("order.desc")


@pytest.fixture
def registry() -> Iterator[RecordedRegistry]:
    server = RecordedRegistry()
    yield server
    server.stop()


def _orders(count: int) -> list[dict]:
    return [order(random.Random(number), number) for number in range(count)]


def _header(schema_id: int) -> bytes:
    return struct.pack(">bI", 0, schema_id)


def _avro(schema_id: int, record: dict) -> bytes:
    out = io.BytesIO()
    out.write(_header(schema_id))
    fastavro.schemaless_writer(out, load_schema(sample_schema_path("order.avsc")).compiled, record)
    return out.getvalue()


def _protobuf(document: dict, message: str = "com.acme.orders.Order") -> bytes:
    schema = load_schema(ORDER_DESC, protobuf_message=message).compiled
    instance = message_factory.GetMessageClass(schema.descriptor())()
    json_format.ParseDict(document, instance)
    return instance.SerializeToString()


async def _produce(bootstrap: str, topic: str, bodies: list[bytes]) -> None:
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(topic, body)
    finally:
        await producer.stop()


async def _browse_kafka(bootstrap: str, topic: str) -> list[Message]:
    messages: list[Message] = []
    async with KafkaConnector(bootstrap) as kafka, kafka.browse(topic) as browser:
        while True:
            page = await browser.next_page()
            messages.extend(page.messages)
            if not page.more:
                return messages


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_kafka_bodies_in_every_format_decode_automatically_through_the_registry(
    kafka_bootstrap: str, unique_name: str, registry: RecordedRegistry
) -> None:
    placed, json_order, proto_order, plain = _orders(4)
    cancelled = {"orderId": "ORD-2025-100003", "reason": "customer asked"}
    bodies = [
        _avro(AVRO_ID, placed),
        _header(JSON_ID) + json.dumps(json_order).encode(),
        _header(PROTO_ID) + write_message_indexes([0]) + _protobuf(proto_order),
        _header(PROTO_ID)
        + write_message_indexes([2])
        + _protobuf(cancelled, "com.acme.orders.OrderCancelled"),
        json.dumps(plain).encode(),
        b"Zahlung abgelehnt: Karte gesperrt",
        BINARY_PAYLOAD,  # starts 00 00 00 00 2a: looks framed with id 42, which is no schema
    ]
    await _produce(kafka_bootstrap, unique_name, bodies)

    messages = await _browse_kafka(kafka_bootstrap, unique_name)
    async with RegistryClient(registry.url) as client:
        decoder = await EndpointDecoder.open(None, client)
        failed = await decoder.prepare(m.body for m in messages)
        decoded = [decoder.decode(m.body) for m in messages]

    assert [m.body for m in messages] == bodies
    assert list(failed) == [42]
    assert [d.title for d in decoded] == [
        "Avro (schema 1)",
        "JSON (schema 2)",
        "Protobuf (schema 3, com.acme.orders.Order)",
        "Protobuf (schema 3, com.acme.orders.OrderCancelled)",
        "JSON",
        "Text",
        "Binary",
    ]
    assert [d.value for d in decoded[:5]] == [placed, json_order, proto_order, cancelled, plain]
    assert decoded[6].error.startswith("Starts like Confluent framing (schema id 42)")
    # The registry was asked once per id, however many bodies name it.
    assert registry.requests["/schemas/ids/3"] == 1
    # Valid against the schemas the registry gave for their ids.
    async with RegistryClient(registry.url) as client:
        for body_decoded in decoded[:4]:
            schema = await client.schema_by_id(body_decoded.schema_id)
            result = validate(body_decoded, schema)
            assert result.valid, (body_decoded.title, result.errors)


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_bad_kafka_bodies_are_clear_errors_with_the_bytes_kept(
    kafka_bootstrap: str, unique_name: str, registry: RecordedRegistry
) -> None:
    document = _orders(1)[0]
    truncated_avro = _avro(AVRO_ID, document)[:40]
    json_schema_broken = _header(JSON_ID) + b'{"orderId": "ORD-1",, }'
    proto_wrong_index = _header(PROTO_ID) + write_message_indexes([7]) + _protobuf(document)
    proto_truncated = _header(PROTO_ID) + b"\x00" + _protobuf(document)[:25]
    invalid_order = dict(document, lines=[{"sku": "SKU-1", "quantity": -1, "unitPrice": "1"}])
    not_valid = _header(JSON_ID) + json.dumps(invalid_order).encode()
    bodies = [truncated_avro, json_schema_broken, proto_wrong_index, proto_truncated, not_valid]
    await _produce(kafka_bootstrap, unique_name, bodies)

    messages = await _browse_kafka(kafka_bootstrap, unique_name)
    async with RegistryClient(registry.url) as client:
        decoder = await EndpointDecoder.open(None, client)
        assert await decoder.prepare(m.body for m in messages) == {}
        decoded = [decoder.decode(m.body) for m in messages]
        json_schema = await client.schema_by_id(JSON_ID)

    assert [(d.kind, d.raw) for d in decoded[:4]] == [(DecodedKind.INVALID, b) for b in bodies[:4]]
    assert decoded[0].error == "Truncated Avro: the record ends early (40 bytes)."
    assert decoded[1].error.startswith("Not valid JSON: Expecting property name")
    assert decoded[1].title == "Invalid JSON (schema 2)"
    assert decoded[2].error == "No message at index path [7] in order.proto."
    assert decoded[3].title == "Invalid Protobuf (schema 3)"
    assert decoded[3].error.startswith("Not a com.acme.orders.Order:")
    result = validate(decoded[4], json_schema)
    assert not result.valid
    assert result.errors[0][0] == "$.lines[0].quantity"


@pytest.mark.kafka
@pytest.mark.usefixtures("drop_kafka_test_topics")
async def test_with_the_registry_down_unknown_ids_say_why_and_mapped_files_still_work(
    kafka_bootstrap: str, unique_name: str, registry: RecordedRegistry
) -> None:
    records = _orders(2)
    bodies = [_avro(AVRO_ID, records[0]), _avro(AVRO_ID, records[1])]
    await _produce(kafka_bootstrap, unique_name, bodies)
    registry.stop()

    messages = await _browse_kafka(kafka_bootstrap, unique_name)
    async with RegistryClient(registry.url, timeout=2) as client:
        automatic = await EndpointDecoder.open(None, client)
        failed = await automatic.prepare(m.body for m in messages)
        unfetched = automatic.decode(messages[0].body)
        mapped_file = EndpointDecoding(schema_file=str(sample_schema_path("order.avsc")))
        local = await EndpointDecoder.open(mapped_file, client)
        await local.prepare(m.body for m in messages)
        read_locally = [local.decode(m.body) for m in messages]

    assert list(failed) == [AVRO_ID]
    assert unfetched.kind is DecodedKind.INVALID
    assert unfetched.raw == bodies[0]
    assert unfetched.error.startswith("Schema id 1 could not be fetched: Cannot reach")
    assert [d.value for d in read_locally] == records


@pytest.fixture
async def rabbit_queue(rabbitmq: RabbitMQSettings, unique_name: str) -> AsyncIterator[str]:
    connection = await aio_pika.connect(**rabbitmq.credentials(), timeout=10)
    channel = await connection.channel()
    await channel.declare_queue(unique_name, durable=True)
    try:
        yield unique_name
    finally:
        await channel.queue_delete(unique_name)
        await connection.close()


async def _publish(rabbitmq: RabbitMQSettings, queue: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(**rabbitmq.credentials(), timeout=10)
    try:
        channel = await connection.channel()
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)
    finally:
        await connection.close()


async def _browse_rabbitmq(rabbitmq: RabbitMQSettings, queue: str) -> list[Message]:
    connector = RabbitMQConnector(**rabbitmq.account())  # type: ignore[arg-type]
    await connector.connect()
    messages: list[Message] = []
    try:
        async with connector.browse(queue) as browser:
            while True:
                page = await browser.next_page()
                messages.extend(page.messages)
                if not page.more:
                    return messages
    finally:
        await connector.close()


@pytest.mark.rabbitmq
async def test_rabbitmq_plain_protobuf_with_a_mapped_descriptor_set(
    rabbitmq: RabbitMQSettings, rabbit_queue: str
) -> None:
    documents = _orders(3)
    bodies = [_protobuf(d) for d in documents] + [json.dumps(documents[0]).encode()]
    await _publish(rabbitmq, rabbit_queue, bodies)

    messages = await _browse_rabbitmq(rabbitmq, rabbit_queue)
    setting = EndpointDecoding(
        decoding="protobuf", schema_file=str(ORDER_DESC), protobuf_message="com.acme.orders.Order"
    )
    decoder = await EndpointDecoder.open(setting)
    decoded = [decoder.decode(m.body) for m in messages]
    automatic = (await EndpointDecoder.open(None)).decode(messages[0].body)

    assert [m.body for m in messages] == bodies
    assert [d.value for d in decoded[:3]] == documents
    assert {d.title for d in decoded[:3]} == {"Protobuf (com.acme.orders.Order)"}
    assert all(validate(d, decoder.schema).valid for d in decoded[:3])
    # JSON forced through a protobuf decoding is refused, with the bytes kept.
    assert decoded[3].kind is DecodedKind.INVALID
    assert decoded[3].error.startswith("Not a com.acme.orders.Order:")
    assert decoded[3].raw == bodies[3]
    # Left automatic, protobuf bytes are not mistaken for anything readable.
    assert automatic.kind is DecodedKind.BINARY


@pytest.mark.rabbitmq
async def test_rabbitmq_json_text_and_a_mapped_json_schema(
    rabbitmq: RabbitMQSettings, rabbit_queue: str
) -> None:
    document = _orders(1)[0]
    broken = dict(document)
    del broken["customerId"]
    bodies = [json.dumps(document).encode(), json.dumps(broken).encode(), b"plain words"]
    await _publish(rabbitmq, rabbit_queue, bodies)

    messages = await _browse_rabbitmq(rabbitmq, rabbit_queue)
    setting = EndpointDecoding(schema_file=str(sample_schema_path("order.schema.json")))
    decoder = await EndpointDecoder.open(setting)
    decoded = [decoder.decode(m.body) for m in messages]
    forced = await EndpointDecoder.open(EndpointDecoding(decoding="json"))

    assert [d.title for d in decoded] == ["JSON", "JSON", "Text"]
    assert validate(decoded[0], decoder.schema).valid
    assert (
        validate(decoded[1], decoder.schema).errors[0][1] == "'customerId' is a required property"
    )
    assert forced.decode(messages[2].body).title == "Invalid JSON"


async def test_a_wrong_descriptor_or_message_type_is_refused_with_a_hint(tmp_path) -> None:
    not_a_descriptor = tmp_path / "order.desc"
    not_a_descriptor.write_bytes(sample_schema_path("order.avsc").read_bytes())

    with pytest.raises(ConfigurationError, match="not a protobuf descriptor set") as wrong:
        await EndpointDecoder.open(EndpointDecoding(schema_file=str(not_a_descriptor)))
    with pytest.raises(ConfigurationError, match=r"No message type .acme\.Nope."):
        await EndpointDecoder.open(
            EndpointDecoding(schema_file=str(ORDER_DESC), protobuf_message="acme.Nope")
        )
    assert wrong.value.hint
