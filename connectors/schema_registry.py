"""A client for a Confluent-compatible Schema Registry's REST API (Confluent, Karapace, Apicurio's
ccompat API): schemas by id and by subject/version, as Schemas decoding can use.

HTTP goes through urllib in a worker thread: a handful of small GETs per session, each
cached, does not justify an HTTP client dependency. Failures come out as EventdeskErrors
with a hint; a password never appears in a message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

from .errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    BrokerError,
    BrokerUnreachable,
    ConfigurationError,
    EventdeskError,
    OperationTimeout,
)
from .profiles import ConnectionProfile
from .protobuf_decoding import ProtobufError, build_schema, parse_file_descriptor
from .redaction import register_secret
from .schemas import Schema, SchemaError, SchemaKind, parse_schema, protobuf_schema
from .secrets import SecretStore

# The keyring field (secrets.SecretStore) for the registry password of a connection.
PASSWORD_FIELD = "schema registry password"
_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"
# References nest (a schema importing one importing another); a cycle must not loop forever.
_MAX_REFERENCE_DEPTH = 16


class RegistryError(EventdeskError):
    """The Schema Registry answered with an error that fits no category below."""

    hint = "See the registry's message above; the registry's own logs may say more."


class RegistryUnreachable(RegistryError, BrokerUnreachable):
    """No HTTP connection to the Schema Registry."""

    hint = "Check the connection's Schema Registry URL and that the registry is running."


class RegistryTimeout(RegistryError, OperationTimeout):
    hint = "The Schema Registry is slow or unreachable; try again."


class RegistryAuthenticationFailed(RegistryError, AuthenticationFailed):
    hint = "Check the connection's Schema Registry user name and password."


class RegistryAuthorizationFailed(RegistryError, AuthorizationFailed):
    hint = "Ask the registry's administrator for read access to its subjects and schemas."


class SchemaNotFound(RegistryError):
    """The registry has no such subject, version or schema id."""

    hint = "Check the subject and version mapped to the endpoint; the schema may be deleted."


class InvalidRegistrySchema(RegistryError):
    """The registry returned a schema Eventdesk cannot use."""

    hint = "The schema in the registry is not usable here; map a local schema file instead."


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One schema as the registry returned it, before parsing."""

    kind: SchemaKind
    text: str
    references: tuple[Mapping[str, Any], ...]


class RegistryClient:
    """Reads a Confluent-compatible Schema Registry; `close()` (or `async with`) when done."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = _checked_url(url)
        self._timeout = timeout
        self._headers = {"Accept": _ACCEPT}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._by_id: dict[int, Schema] = {}
        self._closed = False

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        self._by_id.clear()

    def cached(self, schema_id: int) -> Schema | None:
        """The schema for `schema_id` if it was fetched already; never waits."""
        return self._by_id.get(schema_id)

    async def schema_by_id(self, schema_id: int) -> Schema:
        """The schema a Confluent-framed body names; cached for the client's life."""
        if schema_id in self._by_id:
            return self._by_id[schema_id]
        data = await self._get(f"/schemas/ids/{int(schema_id)}", what=f"schema id {schema_id}")
        schema = await self._schema(data, name=f"Registry schema {schema_id}", schema_id=schema_id)
        self._by_id[schema_id] = schema
        return schema

    async def schemas_by_ids(
        self, schema_ids: Iterable[int]
    ) -> tuple[dict[int, Schema], dict[int, EventdeskError]]:
        """Fetches every id at once: (schemas found, errors by id). Never raises for one id."""
        ids = sorted(set(schema_ids))
        results = await asyncio.gather(*(self.schema_by_id(i) for i in ids), return_exceptions=True)
        found: dict[int, Schema] = {}
        failed: dict[int, EventdeskError] = {}
        for schema_id, result in zip(ids, results, strict=True):
            if isinstance(result, EventdeskError):
                failed[schema_id] = result
            elif isinstance(result, BaseException):
                raise result
            else:
                found[schema_id] = result
        return found, failed

    async def subjects(self) -> list[str]:
        data = await self._get("/subjects", what="the subject list")
        if not isinstance(data, list):
            raise _not_a_registry(self.url, "/subjects")
        return [str(subject) for subject in data]

    async def versions(self, subject: str) -> list[int]:
        path = f"/subjects/{_quoted(subject)}/versions"
        data = await self._get(path, what=f"subject {subject!r}")
        if not isinstance(data, list):
            raise _not_a_registry(self.url, path)
        return [int(version) for version in data]

    async def subject_version(
        self, subject: str, version: int | str = "latest"
    ) -> tuple[int, Schema]:
        """(schema id, schema) of one version of a subject; "latest" by default."""
        data = await self._subject_version_data(subject, version)
        try:
            schema_id = int(data["id"])
            number = data.get("version", version)
        except (KeyError, TypeError, ValueError):
            raise _not_a_registry(self.url, f"/subjects/{subject}/versions/{version}") from None
        schema = self._by_id.get(schema_id)
        if schema is None:
            name = f"{subject} v{number} (id {schema_id})"
            schema = await self._schema(data, name=name, schema_id=schema_id)
            self._by_id[schema_id] = schema
        return schema_id, schema

    async def _subject_version_data(
        self, subject: str, version: int | str, *, serialized: bool = False
    ) -> dict[str, Any]:
        if version != "latest" and not str(version).isdigit():
            raise ConfigurationError(
                f"Schema version {version!r} is not a number.",
                hint="Use a version number, or leave it empty for the latest.",
            )
        path = f"/subjects/{_quoted(subject)}/versions/{version}"
        if serialized:
            path += "?format=serialized"
        data = await self._get(path, what=f"subject {subject!r} version {version}")
        if not isinstance(data, dict):
            raise _not_a_registry(self.url, path)
        return data

    async def _schema(self, data: Any, *, name: str, schema_id: int) -> Schema:
        fetched = _fetched(data, self.url)
        try:
            if fetched.kind is SchemaKind.PROTOBUF:
                return await self._protobuf(schema_id, fetched, name=name)
            if fetched.kind is SchemaKind.AVRO and fetched.references:
                named = await self._avro_references(fetched.references, depth=0)
                document = json.loads(fetched.text)
                compiled = fastavro.parse_schema(document, named_schemas=named)
                return Schema(name, SchemaKind.AVRO, document, compiled)
            return parse_schema(json.loads(fetched.text), name=name, kind=fetched.kind)
        except (SchemaError, ProtobufError, ValueError) as exc:
            raise InvalidRegistrySchema(f"{name} cannot be used: {exc}") from exc

    async def _protobuf(self, schema_id: int, fetched: _Fetched, *, name: str) -> Schema:
        # .proto text needs a compiler; the registry's serialized form is a FileDescriptorProto.
        data = await self._get(f"/schemas/ids/{schema_id}?format=serialized", what=name)
        own = _fetched(data, self.url)
        files = await self._proto_references(own.references, depth=0)
        files.append(parse_file_descriptor(_b64(own.text, name), name=f"schema-{schema_id}.proto"))
        return protobuf_schema(build_schema(files, name=name), name=name, document=fetched.text)

    async def _proto_references(self, references: Iterable[Mapping[str, Any]], *, depth: int):
        if depth > _MAX_REFERENCE_DEPTH:
            raise InvalidRegistrySchema("Schema references nest too deeply (a cycle?).")
        files = []
        for reference in references:
            subject, version, import_name = _reference(reference)
            data = await self._subject_version_data(subject, version, serialized=True)
            fetched = _fetched(data, self.url)
            files += await self._proto_references(fetched.references, depth=depth + 1)
            files.append(parse_file_descriptor(_b64(fetched.text, subject), name=import_name))
        return files

    async def _avro_references(
        self, references: Iterable[Mapping[str, Any]], *, depth: int
    ) -> dict[str, Any]:
        if depth > _MAX_REFERENCE_DEPTH:
            raise InvalidRegistrySchema("Schema references nest too deeply (a cycle?).")
        named: dict[str, Any] = {}
        for reference in references:
            subject, version, _ = _reference(reference)
            fetched = _fetched(await self._subject_version_data(subject, version), self.url)
            named.update(await self._avro_references(fetched.references, depth=depth + 1))
            fastavro.parse_schema(json.loads(fetched.text), named_schemas=named)
        return named

    async def _get(self, path: str, *, what: str) -> Any:
        if self._closed:
            raise RegistryError("The Schema Registry client is closed.", hint="Reconnect.")
        request = urllib.request.Request(self.url + path, headers=self._headers)
        return await asyncio.to_thread(self._fetch, request, what)

    def _fetch(self, request: urllib.request.Request, what: str) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, self.url, what) from None
        except TimeoutError as exc:
            raise RegistryTimeout(f"Schema Registry {self.url} did not answer in time.") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise RegistryTimeout(
                    f"Schema Registry {self.url} did not answer in time."
                ) from exc
            raise RegistryUnreachable(
                f"Cannot reach the Schema Registry at {self.url}: {exc.reason}"
            ) from exc
        except OSError as exc:
            raise RegistryUnreachable(
                f"Cannot reach the Schema Registry at {self.url}: {exc}"
            ) from exc
        try:
            return json.loads(body)
        except ValueError:
            raise _not_a_registry(self.url, request.selector) from None


def _checked_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"Schema Registry URL {url!r} is not an http(s) URL.",
            hint="Enter it like http://registry.example.com:8081.",
        )
    if parts.password is not None:
        raise ConfigurationError(
            "The Schema Registry URL holds a password.",
            hint="Remove it from the URL; enter the registry user and password separately.",
        )
    return url.strip().rstrip("/")


def _quoted(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _fetched(data: Any, url: str) -> _Fetched:
    if not isinstance(data, dict) or not isinstance(data.get("schema"), str):
        raise _not_a_registry(url, "a schema")
    kinds = {
        "AVRO": SchemaKind.AVRO,
        "JSON": SchemaKind.JSON_SCHEMA,
        "PROTOBUF": SchemaKind.PROTOBUF,
    }
    schema_type = str(data.get("schemaType") or "AVRO").upper()
    if schema_type not in kinds:
        raise InvalidRegistrySchema(f"Schema type {schema_type} is not supported.")
    references = data.get("references") or ()
    if not isinstance(references, list | tuple):
        raise _not_a_registry(url, "a schema's references")
    return _Fetched(kinds[schema_type], data["schema"], tuple(references))


def _reference(reference: Mapping[str, Any]) -> tuple[str, int | str, str]:
    try:
        return str(reference["subject"]), int(reference["version"]), str(reference["name"])
    except (KeyError, TypeError, ValueError):
        raise InvalidRegistrySchema(f"Malformed schema reference {reference!r}.") from None


def _b64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidRegistrySchema(
            f"{name}: the registry did not return a serialized descriptor.",
            hint="The registry may not support format=serialized; map a .desc file instead.",
        ) from None


def _http_error(exc: urllib.error.HTTPError, url: str, what: str) -> RegistryError:
    message = _registry_message(exc)
    if exc.code == 401:
        return RegistryAuthenticationFailed(f"Schema Registry {url} refused the credentials.")
    if exc.code == 403:
        return RegistryAuthorizationFailed(f"Schema Registry {url} denied access to {what}.")
    if exc.code == 404:
        return SchemaNotFound(f"Schema Registry has no {what}: {message or 'not found'}")
    if exc.code == 422:
        return RegistryError(f"Schema Registry refused the request for {what}: {message}")
    error = _ServerError if exc.code >= 500 else RegistryError
    return error(f"Schema Registry {url} answered HTTP {exc.code} for {what}: {message}")


class _ServerError(RegistryError, BrokerError):
    hint = "The Schema Registry failed; its own logs say more. Try again later."


def _registry_message(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason or ""
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(exc.reason or "")


def _not_a_registry(url: str, where: str) -> RegistryError:
    return RegistryError(
        f"{url} did not answer like a Schema Registry (for {where}).",
        hint="Check that the URL points at the registry itself, e.g. http://host:8081.",
    )


def registry_client_for(
    profile: ConnectionProfile, secrets: SecretStore | None
) -> RegistryClient | None:
    """The client for the profile's `schema_registry_url`; None when it has none.

    With a user name, the password comes from the environment variable the profile names
    (`schema_registry_password_env`), else from the keyring.
    """
    url = profile.get("schema_registry_url")
    if not url:
        return None
    username = profile.get("schema_registry_username") or None
    password = None
    env = profile.get("schema_registry_password_env")
    if username and env:
        password = os.environ.get(env)
    elif username and secrets is not None:
        password = secrets.get(profile.name, PASSWORD_FIELD)
    if password:
        register_secret(password)  # never in a log line or an error message
    return RegistryClient(url, username=username, password=password)
