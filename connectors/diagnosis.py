"""Test connection: checks a profile step by step and says which step failed, why, and what to do.

The steps run in order (settings, name resolution, TCP, TLS, authentication, the management
API for RabbitMQ, authorization) and stop at the first failure: every later step needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .base import Connector
from .errors import AuthenticationFailed, AuthorizationFailed, EventdeskError
from .factory import SecretPrompt, create_connector
from .model import BrokerKind
from .profiles import ConnectionProfile
from .redaction import redact
from .secrets import SecretStore

log = logging.getLogger(__name__)

STEP_SETTINGS = "Settings"
STEP_DNS = "Name resolution"
STEP_TCP = "TCP connection"
STEP_TLS = "TLS handshake"
STEP_AUTHENTICATION = "Authentication"
STEP_MANAGEMENT = "Management API"
STEP_AUTHORIZATION = "Authorization"

# OpenSSL's verify codes (X509_V_ERR_*) for what is wrong with a server's certificate.
_UNKNOWN_ISSUER = frozenset({2, 18, 19, 20, 21})
_NAME_MISMATCH = frozenset({62, 64})  # hostname, IP address
_NOT_YET_VALID, _EXPIRED, _REVOKED = 9, 10, 23
# Long enough for a server's alert after a TLS 1.3 handshake (a missing client certificate).
_ALERT_WAIT_S = 0.5
_ENDPOINT_NOUN = {
    BrokerKind.KAFKA: "topics",
    BrokerKind.RABBITMQ: "queues",
    BrokerKind.SQS: "queues",
    BrokerKind.NATS: "dead-letter endpoints",
}
_AUTHORIZATION_HINTS = {
    BrokerKind.KAFKA: "Ask the Kafka administrator for Describe on the topics and the cluster "
    "(kafka-acls --add --operation Describe --topic '*').",
    BrokerKind.RABBITMQ: "Ask the RabbitMQ administrator for read permission on the vhost and "
    "the 'monitoring' or 'management' tag for listing queues.",
    BrokerKind.SQS: "Ask for an IAM policy allowing sqs:ListQueues and sqs:GetQueueAttributes "
    "(and sns:ListTopics for SNS).",
    BrokerKind.NATS: "Ask the NATS administrator for permission to use the JetStream API "
    "($JS.API.>).",
}


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    ok: bool
    detail: str
    hint: str = ""


StepCallback = Callable[[StepResult], None]


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def uses_tls(profile: ConnectionProfile) -> bool:
    """Whether the profile's broker link is TLS, so the TLS step applies."""
    if profile.kind is BrokerKind.KAFKA:
        return profile.get("security_protocol", "PLAINTEXT").upper() in ("SSL", "SASL_SSL")
    if profile.kind is BrokerKind.RABBITMQ:
        return profile.get("tls").lower() == "true"
    if profile.kind is BrokerKind.SQS:
        return urlsplit(profile.get("endpoint_url") or "https://aws").scheme == "https"
    # NATS upgrades to TLS inside its own protocol; its client reports TLS problems.
    return False


def planned_steps(profile: ConnectionProfile) -> list[str]:
    """The steps diagnose() runs for this profile, in order."""
    steps = [STEP_SETTINGS, STEP_DNS, STEP_TCP]
    if uses_tls(profile):
        steps.append(STEP_TLS)
    steps.append(STEP_AUTHENTICATION)
    if profile.kind is BrokerKind.RABBITMQ:
        steps.append(STEP_MANAGEMENT)
    steps.append(STEP_AUTHORIZATION)
    return steps


def broker_addresses(profile: ConnectionProfile) -> list[Address]:
    """Where the broker itself listens, as the profile says; empty if it cannot tell."""
    if profile.kind is BrokerKind.KAFKA:
        return _host_ports(profile.get("bootstrap_servers").split(","), default_port=9092)
    if profile.kind is BrokerKind.RABBITMQ:
        default = "5671" if uses_tls(profile) else "5672"
        port = profile.get("port", default)
        host = profile.get("host", "127.0.0.1")
        return [Address(host, int(port))] if port.isdigit() else []
    if profile.kind is BrokerKind.SQS:
        url = profile.get("endpoint_url") or (
            f"https://sqs.{profile.get('region', 'us-east-1')}.amazonaws.com"
        )
        return _url_addresses([url], default_ports={"http": 80, "https": 443})
    return _url_addresses(
        profile.get("servers").split(","), default_ports={"nats": 4222, "tls": 4222}
    )


async def diagnose(
    profile: ConnectionProfile,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    timeout: float = 10.0,
    on_step: StepCallback | None = None,
) -> list[StepResult]:
    """Runs the planned steps until one fails; `on_step` hears of each as it ends."""
    run = _Diagnosis(profile, timeout=timeout, on_step=on_step)
    connector = run.settings(secrets, prompt)
    if connector is None:
        return run.results
    try:
        addresses = await run.name_resolution()
        if addresses:
            addresses = await run.tcp(addresses)
        if not addresses:
            return run.results
        if uses_tls(profile) and not await run.tls(addresses[0], connector):
            return run.results
        if not await run.authentication(connector):
            return run.results
        if profile.kind is BrokerKind.RABBITMQ and not await run.management(connector):
            return run.results
        await run.authorization(connector)
        return run.results
    finally:
        # Closing is best effort: a link that never opened has nothing to close.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connector.close(), 5.0)


class _Diagnosis:
    """One run: the results so far, and one method per step."""

    def __init__(
        self, profile: ConnectionProfile, *, timeout: float, on_step: StepCallback | None
    ) -> None:
        self.profile = profile
        self.timeout = timeout
        self.results: list[StepResult] = []
        self._on_step = on_step

    def record(self, name: str, ok: bool, detail: str, hint: str = "") -> bool:
        result = StepResult(name, ok, redact(detail), redact(hint))
        self.results.append(result)
        if self._on_step is not None:
            self._on_step(result)
        return ok

    def fail(self, name: str, exc: BaseException, hint: str = "") -> bool:
        if isinstance(exc, EventdeskError):
            return self.record(name, False, str(exc), hint or exc.hint)
        # Not one of ours: a bug or an SDK surprise; say what it was rather than crash.
        log.warning("Test connection: %s failed unexpectedly", name, exc_info=exc)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self.record(name, False, detail, hint or "This is unexpected; see the log.")

    # -- steps ------------------------------------------------------------------------

    def settings(
        self, secrets: SecretStore | None, prompt: SecretPrompt | None
    ) -> Connector | None:
        try:
            connector = create_connector(self.profile, prompt=prompt, secrets=secrets)
        except Exception as exc:
            self.fail(STEP_SETTINGS, exc)
            return None
        if not broker_addresses(self.profile):
            self.record(
                STEP_SETTINGS,
                False,
                "The connection names no host and port to connect to.",
                "Enter the broker's address as host:port.",
            )
            return None
        self.record(STEP_SETTINGS, True, "The settings are complete.")
        return connector

    async def name_resolution(self) -> list[Address]:
        loop = asyncio.get_running_loop()
        resolved: list[Address] = []
        lines, failures = [], []
        for address in broker_addresses(self.profile):
            try:
                async with asyncio.timeout(self.timeout):
                    infos = await loop.getaddrinfo(
                        address.host, address.port, type=socket.SOCK_STREAM
                    )
            except TimeoutError:
                failures.append(f"{address.host}: no answer from DNS within {self.timeout:g} s")
                continue
            except (socket.gaierror, UnicodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                failures.append(f"{address.host} cannot be resolved ({reason})")
                continue
            ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
            lines.append(f"{address.host} is {', '.join(ips[:3])}")
            resolved.append(address)
        if not resolved:
            self.record(
                STEP_DNS,
                False,
                "; ".join(failures) + ".",
                "Check the spelling of the host name, and that this machine's DNS (or VPN) "
                "knows it.",
            )
            return []
        self.record(STEP_DNS, True, "; ".join(lines + failures) + ".")
        return resolved

    async def tcp(self, addresses: list[Address]) -> list[Address]:
        reachable: list[Address] = []
        failures, hints = [], []
        for address in addresses:
            problem = await self._tcp_problem(address)
            if problem is None:
                reachable.append(address)
            else:
                failures.append(f"{address}: {problem[0]}")
                hints.append(problem[1])
        if not reachable:
            self.record(STEP_TCP, False, "; ".join(failures) + ".", hints[0])
            return []
        detail = f"Connected to {', '.join(str(a) for a in reachable)}"
        self.record(STEP_TCP, True, "; ".join([detail, *failures]) + ".")
        return reachable

    async def _tcp_problem(self, address: Address) -> tuple[str, str] | None:
        """(what went wrong, what to do), or None if a TCP connection opens."""
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(address.host, address.port)
        except TimeoutError:
            return (
                f"no answer within {self.timeout:g} s",
                "A firewall, security group or VPN drops the connection, or the host is down.",
            )
        except ConnectionRefusedError:
            return (
                "connection refused: nothing listens on this port",
                "Check the port, and that the broker is running on that host.",
            )
        except OSError as exc:
            return (
                (exc.strerror or str(exc)).lower(),
                "Check the host and port, and this machine's network.",
            )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return None

    async def tls(self, address: Address, connector: Connector) -> bool:
        try:
            make_context = _context_factory(connector)
            context = make_context()
        except Exception as exc:
            return self.fail(STEP_TLS, exc)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    address.host, address.port, ssl=context, server_hostname=address.host
                )
        except ssl.SSLCertVerificationError as exc:
            detail, hint = await _certificate_problem(address, exc, make_context)
            return self.record(STEP_TLS, False, detail, hint)
        except ssl.SSLError as exc:
            return self.record(STEP_TLS, False, *_handshake_problem(address, exc))
        except TimeoutError:
            return self.record(
                STEP_TLS,
                False,
                f"{address} did not finish the TLS handshake within {self.timeout:g} s.",
                f"Check that {address} is a TLS port.",
            )
        except OSError as exc:
            return self.record(
                STEP_TLS,
                False,
                f"{address} closed the connection during the TLS handshake "
                f"({exc.strerror or exc}).",
                f"Check that {address} is a TLS port and that it accepts this client.",
            )
        try:
            alert = await _alert_after_handshake(
                reader, client_certificate=_has_client_cert(connector)
            )
            certificate = writer.get_extra_info("peercert") or {}
            version = writer.get_extra_info("ssl_object").version()
        finally:
            writer.close()
        if alert is not None:
            return self.record(STEP_TLS, False, f"{address} {alert[0]}", alert[1])
        detail = f"{version} with {address}; {_describe_certificate(certificate)}."
        if not context.check_hostname:
            detail += " The host name is NOT checked (unsafe)."
        return self.record(STEP_TLS, True, detail)

    async def authentication(self, connector: Connector) -> bool:
        try:
            await connector.connect(timeout=self.timeout)
        except AuthorizationFailed as exc:
            # The login itself went through; what followed was refused.
            self.record(STEP_AUTHENTICATION, True, self._logged_in(connector))
            return self.fail(STEP_AUTHORIZATION, exc, self._authorization_hint(exc))
        except Exception as exc:
            return self.fail(STEP_AUTHENTICATION, exc)
        return self.record(STEP_AUTHENTICATION, True, self._logged_in(connector))

    async def management(self, connector: Connector) -> bool:
        management = getattr(connector, "management", None)
        if management is None:
            return self.record(STEP_MANAGEMENT, True, "No management API is used.")
        try:
            me = await management.get("/api/whoami", timeout=self.timeout) or {}
        except AuthenticationFailed as exc:
            if self.profile.get("management_username"):
                return self.fail(STEP_MANAGEMENT, exc)
            # The very same user and password just logged in over AMQP.
            user = self.profile.get("username", "guest")
            return self.record(
                STEP_MANAGEMENT,
                False,
                f"{exc} The same user and password logged in over AMQP, so user {user!r} "
                "lacks a management tag.",
                f"Ask the administrator to tag {user!r} 'monitoring' or 'management' "
                f"(rabbitmqctl set_user_tags {user} monitoring).",
            )
        except Exception as exc:
            return self.fail(STEP_MANAGEMENT, exc)
        tags = me.get("tags") or []
        tags = tags if isinstance(tags, list) else [t for t in str(tags).split(",") if t]
        shown = ", ".join(tags) or "none"
        return self.record(
            STEP_MANAGEMENT,
            True,
            f"{management.base_url} accepted user {me.get('name', '?')!r} (tags: {shown}).",
        )

    async def authorization(self, connector: Connector) -> bool:
        try:
            endpoints = await connector.list_endpoints(timeout=max(self.timeout, 15.0))
        except Exception as exc:
            hint = self._authorization_hint(exc) if isinstance(exc, AuthorizationFailed) else ""
            return self.fail(STEP_AUTHORIZATION, exc, hint)
        dead = sum(1 for endpoint in endpoints if endpoint.is_dead_letter)
        noun = _ENDPOINT_NOUN[self.profile.kind]
        return self.record(
            STEP_AUTHORIZATION,
            True,
            f"May list {noun}: {len(endpoints)} found, {dead} of them dead-letter queues.",
        )

    # -- words ------------------------------------------------------------------------

    def _logged_in(self, connector: Connector) -> str:
        profile = self.profile
        if profile.kind is BrokerKind.KAFKA:
            security = getattr(connector, "security", None)
            if security is not None and security.uses_sasl:
                return (
                    f"Kafka accepted user {security.sasl_username!r} ({security.sasl_mechanism})."
                )
            if security is not None and security.ssl_certfile:
                return "Kafka accepted the client certificate."
            return "Kafka answered; this listener asks for no login."
        if profile.kind is BrokerKind.RABBITMQ:
            return f"RabbitMQ accepted the login of user {profile.get('username', 'guest')!r}."
        if profile.kind is BrokerKind.SQS:
            return "AWS accepted the credentials."
        return "NATS accepted the connection."

    def _authorization_hint(self, exc: AuthorizationFailed) -> str:
        profile = self.profile
        if profile.kind is BrokerKind.RABBITMQ and "vhost" in str(exc) and "open" in str(exc):
            user, vhost = profile.get("username", "guest"), profile.get("vhost", "/")
            return (
                f"Ask the RabbitMQ administrator to grant user {user!r} permissions on vhost "
                f"{vhost!r} (rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*' "
                "for configure, write, read), or choose a vhost the user may use."
            )
        if profile.kind is BrokerKind.KAFKA and "hint" in vars(exc):
            return exc.hint  # the connector named the permission and the kafka-acls to grant it
        return _AUTHORIZATION_HINTS[profile.kind]


# -- addresses ---------------------------------------------------------------------------


def _host_ports(items: list[str], *, default_port: int) -> list[Address]:
    addresses = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host:
            host, port = item, str(default_port)
        if port.isdigit() and 0 < int(port) < 65536:
            addresses.append(Address(host.strip("[]"), int(port)))
    return addresses


def _url_addresses(urls: list[str], *, default_ports: dict[str, int]) -> list[Address]:
    addresses = []
    for url in (u.strip() for u in urls):
        if not url:
            continue
        try:
            parts = urlsplit(url if "://" in url else f"nats://{url}")
            port = parts.port or default_ports.get(parts.scheme)
        except ValueError:
            continue
        if parts.hostname and port:
            addresses.append(Address(parts.hostname, port))
    return addresses


# -- TLS ---------------------------------------------------------------------------------


def _context_factory(connector: Connector) -> Callable[[], ssl.SSLContext]:
    """Makes the client TLS context the connector itself uses (a new one per call)."""
    security = getattr(connector, "security", None)
    if security is not None:  # Kafka: CA, client certificate, hostname switch
        return security.ssl_context
    own = getattr(connector, "ssl_context", None)
    if callable(own):  # RabbitMQ amqps
        return own
    return ssl.create_default_context


def _has_client_cert(connector: Connector) -> bool:
    return bool(getattr(getattr(connector, "security", None), "ssl_certfile", None))


async def _alert_after_handshake(
    reader: asyncio.StreamReader, *, client_certificate: bool
) -> tuple[str, str] | None:
    """TLS 1.3 servers refuse a client certificate only after the handshake: listen briefly."""
    try:
        async with asyncio.timeout(_ALERT_WAIT_S):
            data = await reader.read(1)
    except TimeoutError:
        return None  # quiet, as a server waiting for the client's first request should be
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc).upper()
        if "CERTIFICATE_REQUIRED" in reason or (
            "BAD_CERTIFICATE" in reason and not client_certificate
        ):
            return _CLIENT_CERTIFICATE_REQUIRED
        if "CERTIFICATE" in reason:
            return (
                f"refused the client certificate ({exc.reason}).",
                "The client certificate must be signed by a CA the broker trusts, "
                "and be valid now.",
            )
        return (
            f"ended the TLS session right after the handshake ({exc.reason or exc}).",
            "The server refused this client; check the client certificate and key.",
        )
    except OSError as exc:
        return (
            f"closed the connection right after the TLS handshake ({exc.strerror or exc}).",
            _CLIENT_CERTIFICATE_REQUIRED[1],
        )
    if not data:
        return (
            "closed the connection right after the TLS handshake.",
            _CLIENT_CERTIFICATE_REQUIRED[1],
        )
    return None


_CLIENT_CERTIFICATE_REQUIRED = (
    "requires a client certificate, and none it trusts was sent.",
    "Set the client certificate and key files to a certificate signed by a CA the broker trusts.",
)


async def _certificate_problem(
    address: Address,
    exc: ssl.SSLCertVerificationError,
    make_context: Callable[[], ssl.SSLContext],
) -> tuple[str, str]:
    reason = exc.verify_message or exc.reason or str(exc)
    code = exc.verify_code
    if code in _NAME_MISMATCH:
        names = await _certificate_names(address, make_context)
        return (
            f"Hostname mismatch: the certificate of {address} is not valid for "
            f"{address.host!r}; it names {names or 'other hosts'} ({reason}).",
            f"Connect by a name the certificate lists, or have it reissued for {address.host}. "
            "Turning off 'verify hostname' would accept any certificate from the CA (unsafe).",
        )
    if code in _UNKNOWN_ISSUER:
        return (
            f"Unknown CA: the certificate of {address} is not signed by a CA this connection "
            f"trusts ({reason}).",
            "Set the CA file to the PEM certificate of the CA that signed the broker's "
            "certificate.",
        )
    if code == _EXPIRED:
        return (
            f"Expired: the certificate of {address} is past its end date ({reason}).",
            "The broker's certificate needs renewing; tell its administrator.",
        )
    if code == _NOT_YET_VALID:
        return (
            f"Not yet valid: the certificate of {address} starts later ({reason}).",
            "Check this machine's clock; otherwise the certificate was issued for the future.",
        )
    if code == _REVOKED:
        return (
            f"Revoked: the certificate of {address} was revoked ({reason}).",
            "The broker needs a new certificate; tell its administrator.",
        )
    return (
        f"The certificate of {address} was refused: {reason}.",
        "See the reason above; the CA file may not match the broker's certificate.",
    )


def _handshake_problem(address: Address, exc: ssl.SSLError) -> tuple[str, str]:
    reason = str(exc.reason or exc)
    if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
        return (
            f"{address} does not speak TLS ({reason}).",
            "This is a plain-text port: turn TLS off, or use the broker's TLS port.",
        )
    if "CERTIFICATE_REQUIRED" in reason.upper() or "HANDSHAKE_FAILURE" in reason.upper():
        what, hint = _CLIENT_CERTIFICATE_REQUIRED
        return f"{address} {what} ({reason})", hint
    return (
        f"The TLS handshake with {address} failed: {reason}.",
        f"Check that {address} is a TLS port and that it accepts this client.",
    )


async def _certificate_names(address: Address, make_context: Callable[[], ssl.SSLContext]) -> str:
    """The names the server's certificate is valid for, from a second, name-blind look."""
    with contextlib.suppress(Exception):
        context = make_context()
        context.check_hostname = False
        async with asyncio.timeout(3.0):
            _, writer = await asyncio.open_connection(address.host, address.port, ssl=context)
        try:
            return ", ".join(repr(n) for n in _names(writer.get_extra_info("peercert") or {}))
        finally:
            writer.close()
    return ""


def _names(certificate: dict) -> list[str]:
    names = [value for _, value in certificate.get("subjectAltName", ())]
    if not names:
        names = [v for rdn in certificate.get("subject", ()) for k, v in rdn if k == "commonName"]
    return names


def _describe_certificate(certificate: dict) -> str:
    names = ", ".join(repr(n) for n in _names(certificate)) or "no names"
    issuer = next(
        (v for rdn in certificate.get("issuer", ()) for k, v in rdn if k == "commonName"), "?"
    )
    until = certificate.get("notAfter", "?")
    return f"certificate for {names}, issued by {issuer!r}, valid until {until}"


__all__ = [
    "Address",
    "StepResult",
    "broker_addresses",
    "diagnose",
    "planned_steps",
    "uses_tls",
]
