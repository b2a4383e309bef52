"""RegistryClient against a recorded Schema Registry served over real HTTP.

No Confluent-compatible registry can run on this machine: Karapace is not on the package
index reachable here, Confluent's registry is not on Maven Central, and Apicurio's app
publishes no runnable jar there and cannot be built from it (its schema-util-provider module
is not served). So `RecordedRegistry` serves responses in the shape Confluent's REST API
documents (GET /schemas/ids/{id}[?format=serialized], /subjects, /subjects/{s}/versions[/{v}],
`error_code` bodies), built from the sample schemas in resources/schemas: a recording of the
documented API, not a capture from a running registry. The client, its HTTP and its error
handling run for real against it.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eventdesk.connectors.errors import (
    AuthenticationFailed,
    BrokerUnreachable,
    ConfigurationError,
    OperationTimeout,
)
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.schema_registry import (
    PASSWORD_FIELD,
    InvalidRegistrySchema,
    RegistryAuthenticationFailed,
    RegistryClient,
    RegistryError,
    RegistryUnreachable,
    SchemaNotFound,
    registry_client_for,
)
from eventdesk.connectors.schemas import SchemaKind, sample_schema_path
from google.protobuf import descriptor_pb2

AVRO_ID, JSON_ID, PROTO_ID, BROKEN_ID = 1, 2, 3, 5
SUBJECTS = {
    "orders-avro-value": AVRO_ID,
    "orders-json-value": JSON_ID,
    "orders-proto-value": PROTO_ID,
}


# Names a type that exists nowhere: the registry would never accept it, but a copy of one
# restored from a backup or another registry can hold anything.
_BROKEN_AVRO = {"type": "record", "name": "Broken", "fields": [{"name": "x", "type": "Nowhere"}]}


def _sample(name: str) -> str:
    return sample_schema_path(name).read_text(encoding="utf-8")


def _serialized_order_proto() -> str:
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(sample_schema_path("order.desc").read_bytes())
    return base64.b64encode(files.file[-1].SerializeToString()).decode()


def _schemas() -> dict[int, dict[str, Any]]:
    """What GET /schemas/ids/{id} answers for each id (Avro leaves schemaType out)."""
    return {
        AVRO_ID: {"schema": _sample("order.avsc")},
        JSON_ID: {"schema": _sample("order.schema.json"), "schemaType": "JSON"},
        PROTO_ID: {"schema": _sample("order.proto"), "schemaType": "PROTOBUF"},
        BROKEN_ID: {"schema": json.dumps(_BROKEN_AVRO)},
    }


class RecordedRegistry:
    """A Confluent-shaped registry on 127.0.0.1 serving the recorded responses above."""

    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        self.requests: Counter[str] = Counter()
        self.auth_headers: list[str | None] = []
        self.responses = self._responses()
        expected = None
        if username:
            expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(expected))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _responses(self) -> dict[str, Any]:
        schemas = _schemas()
        responses: dict[str, Any] = {"/subjects": sorted(SUBJECTS)}
        for schema_id, body in schemas.items():
            responses[f"/schemas/ids/{schema_id}"] = body
        responses[f"/schemas/ids/{PROTO_ID}?format=serialized"] = {
            "schema": _serialized_order_proto(),
            "schemaType": "PROTOBUF",
        }
        for subject, schema_id in SUBJECTS.items():
            responses[f"/subjects/{subject}/versions"] = [1]
            version = {"subject": subject, "version": 1, "id": schema_id, **schemas[schema_id]}
            responses[f"/subjects/{subject}/versions/1"] = version
            responses[f"/subjects/{subject}/versions/latest"] = version
        return responses

    def _handler(self, expected_auth: str | None) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests[self.path] += 1
                registry.auth_headers.append(self.headers.get("Authorization"))
                if expected_auth and self.headers.get("Authorization") != expected_auth:
                    self._send(401, {"error_code": 40101, "message": "Unauthorized"})
                elif self.path in registry.responses:
                    self._send(200, registry.responses[self.path])
                elif self.path.startswith("/schemas/ids/"):
                    self._send(404, {"error_code": 40403, "message": "Schema not found"})
                elif "/versions/" in self.path and self.path.split("/")[2] in SUBJECTS:
                    self._send(404, {"error_code": 40402, "message": "Version not found."})
                else:
                    subject = self.path.split("/")[2] if self.path.count("/") > 1 else ""
                    message = f"Subject '{subject}' not found."
                    self._send(404, {"error_code": 40401, "message": message})

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def registry() -> Iterator[RecordedRegistry]:
    server = RecordedRegistry()
    yield server
    server.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_schemas_by_id_in_each_format_and_cached(registry: RecordedRegistry) -> None:
    async with RegistryClient(registry.url) as client:
        avro = await client.schema_by_id(AVRO_ID)
        json_schema = await client.schema_by_id(JSON_ID)
        proto = await client.schema_by_id(PROTO_ID)
        again = await client.schema_by_id(AVRO_ID)

    assert (avro.kind, avro.name) == (SchemaKind.AVRO, "Registry schema 1")
    assert avro.compiled["name"] == "com.acme.orders.Order"
    assert json_schema.kind is SchemaKind.JSON_SCHEMA
    assert json_schema.document["title"] == json.loads(_sample("order.schema.json"))["title"]
    assert proto.kind is SchemaKind.PROTOBUF
    assert proto.compiled.descriptor().full_name == "com.acme.orders.Order"
    assert proto.compiled.descriptor([2]).full_name == "com.acme.orders.OrderCancelled"
    assert again is avro
    assert registry.requests["/schemas/ids/1"] == 1, "a second lookup must come from the cache"
    assert registry.requests["/schemas/ids/3?format=serialized"] == 1


async def test_subjects_versions_and_a_subject_version(registry: RecordedRegistry) -> None:
    async with RegistryClient(registry.url + "/") as client:
        subjects = await client.subjects()
        versions = await client.versions("orders-proto-value")
        schema_id, schema = await client.subject_version("orders-avro-value")
        same_id, _ = await client.subject_version("orders-avro-value", 1)

    assert subjects == sorted(SUBJECTS)
    assert versions == [1]
    assert (schema_id, same_id) == (AVRO_ID, AVRO_ID)
    assert schema.name == "orders-avro-value v1 (id 1)"
    assert schema.kind is SchemaKind.AVRO


async def test_missing_subject_version_and_id_are_schema_not_found(
    registry: RecordedRegistry,
) -> None:
    async with RegistryClient(registry.url) as client:
        with pytest.raises(SchemaNotFound, match="Subject 'nope' not found") as subject:
            await client.versions("nope")
        with pytest.raises(SchemaNotFound, match="Version not found"):
            await client.subject_version("orders-avro-value", 7)
        with pytest.raises(SchemaNotFound, match="schema id 99") as by_id:
            await client.schema_by_id(99)
        with pytest.raises(ConfigurationError, match="not a number"):
            await client.subject_version("orders-avro-value", "first")

    assert "subject" in subject.value.hint
    assert by_id.value.hint


async def test_a_broken_schema_in_the_registry_is_invalid_not_a_crash(
    registry: RecordedRegistry,
) -> None:
    async with RegistryClient(registry.url) as client:
        with pytest.raises(InvalidRegistrySchema, match="Registry schema 5 cannot be used"):
            await client.schema_by_id(BROKEN_ID)
        # The failure is not cached as a schema: the next ask goes to the registry again.
        with pytest.raises(InvalidRegistrySchema):
            await client.schema_by_id(BROKEN_ID)

    assert registry.requests["/schemas/ids/5"] == 2


async def test_credentials_are_sent_and_a_refusal_is_authentication_failed() -> None:
    server = RecordedRegistry(username="svc-eventdesk", password="s3cr3t-pw")
    try:
        async with RegistryClient(server.url, username="svc-eventdesk", password="s3cr3t-pw") as ok:
            assert await ok.subjects() == sorted(SUBJECTS)
        async with RegistryClient(server.url, username="svc-eventdesk", password="wrong") as bad:
            with pytest.raises(RegistryAuthenticationFailed) as refused:
                await bad.subjects()
    finally:
        server.stop()

    assert isinstance(refused.value, AuthenticationFailed)
    assert "wrong" not in str(refused.value) and "wrong" not in refused.value.hint
    assert (
        server.auth_headers[0] == "Basic " + base64.b64encode(b"svc-eventdesk:s3cr3t-pw").decode()
    )


async def test_an_unreachable_registry_says_where_and_what_to_check() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with RegistryClient(url, timeout=2) as client:
        with pytest.raises(RegistryUnreachable) as unreachable:
            await client.schema_by_id(AVRO_ID)
        found, failed = await client.schemas_by_ids([AVRO_ID, JSON_ID])

    assert isinstance(unreachable.value, BrokerUnreachable)
    assert url in str(unreachable.value)
    assert "Schema Registry URL" in unreachable.value.hint
    assert found == {}
    assert set(failed) == {AVRO_ID, JSON_ID}


async def test_a_registry_that_does_not_answer_in_time_is_a_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the connection, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with RegistryClient(url, timeout=0.5) as client:
            with pytest.raises(OperationTimeout, match="did not answer in time"):
                await client.subjects()


async def test_something_that_is_not_a_registry_is_said_so(registry: RecordedRegistry) -> None:
    registry.responses["/subjects"] = {"html": "welcome"}
    async with RegistryClient(registry.url) as client:
        with pytest.raises(RegistryError, match="did not answer like a Schema Registry") as error:
            await client.subjects()

    assert "http://host:8081" in error.value.hint


@pytest.mark.parametrize(
    "url",
    ["registry.local:8081", "ftp://registry.local", "", "http://user:hunter2@registry.local"],
)
def test_bad_urls_are_configuration_errors_that_never_echo_a_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        RegistryClient(url)

    assert "hunter2" not in str(error.value)
    assert error.value.hint


async def test_a_closed_client_refuses_politely(registry: RecordedRegistry) -> None:
    client = RegistryClient(registry.url)
    await client.close()
    await client.close()

    with pytest.raises(RegistryError, match="closed"):
        await client.subjects()


class _Secrets:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values

    def get(self, profile: str, field: str) -> str | None:
        return self.values.get((profile, field))


async def test_a_profile_gives_a_client_with_the_password_from_the_secret_store() -> None:
    server = RecordedRegistry(username="svc-eventdesk", password="from-keyring")
    settings = {
        "bootstrap_servers": "127.0.0.1:19092",
        "schema_registry_url": server.url,
        "schema_registry_username": "svc-eventdesk",
    }
    profile = ConnectionProfile("orders", BrokerKind.KAFKA, settings)
    secrets = _Secrets({("orders", PASSWORD_FIELD): "from-keyring"})
    try:
        client = registry_client_for(profile, secrets)  # type: ignore[arg-type]
        assert client is not None
        async with client:
            assert await client.versions("orders-json-value") == [1]
    finally:
        server.stop()

    bare = ConnectionProfile("plain", BrokerKind.KAFKA, {"bootstrap_servers": "127.0.0.1:19092"})
    assert registry_client_for(bare, None) is None


async def test_a_profile_can_name_an_environment_variable_for_the_registry_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = RecordedRegistry(username="svc-eventdesk", password="from-env")
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", "from-env")
    settings = {
        "bootstrap_servers": "127.0.0.1:19092",
        "schema_registry_url": server.url,
        "schema_registry_username": "svc-eventdesk",
        "schema_registry_password_env": "TEST_REGISTRY_PASSWORD",
    }
    profile = ConnectionProfile("orders", BrokerKind.KAFKA, settings)
    try:
        # The keyring's value is not used when the profile names a variable.
        client = registry_client_for(profile, _Secrets({("orders", PASSWORD_FIELD): "stale"}))  # type: ignore[arg-type]
        assert client is not None
        async with client:
            assert await client.versions("orders-json-value") == [1]
    finally:
        server.stop()
