"""Redaction: registered secrets and URL passwords are masked in logs, errors and URLs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from eventdesk.connectors.errors import AuthenticationFailed
from eventdesk.connectors.factory import create_connector
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.redaction import (
    MASK,
    REDACTOR,
    Redactor,
    install_log_redaction,
    redact,
    redact_url,
)


@pytest.fixture
def redactor() -> Redactor:
    redactor = Redactor()
    redactor.register("hunter2-pw")
    return redactor


@pytest.fixture
def root_stream(redactor: Redactor) -> Iterator[io.StringIO]:
    """A root handler like the app's, with the filter installed the way the app does it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    redacting = install_log_redaction(root, redactor)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.removeFilter(redacting)
        root.setLevel(previous_level)


def test_secrets_are_masked_in_log_records_of_any_logger(root_stream: io.StringIO) -> None:
    # A child logger: its records reach the root's handlers without the root's own filters.
    logging.getLogger("aiormq.connection").debug("login as ops with %s", "hunter2-pw")
    logging.getLogger().warning("url=%s", "amqp://ops:hunter2-pw@mq:5672/")

    text = root_stream.getvalue()
    assert "hunter2-pw" not in text
    assert f"login as ops with {MASK}" in text
    assert f"amqp://ops:{MASK}@mq:5672/" in text


def test_secrets_are_masked_in_logged_tracebacks(root_stream: io.StringIO) -> None:
    try:
        raise RuntimeError("handshake failed for password 'hunter2-pw'")
    except RuntimeError:
        logging.getLogger("eventdesk.gui").exception("Connecting failed")

    text = root_stream.getvalue()
    assert "RuntimeError" in text
    assert "hunter2-pw" not in text


def test_error_texts_and_their_escaped_forms_are_masked(redactor: Redactor) -> None:
    error = AuthenticationFailed("Broker refused user ops with password hunter2-pw")
    assert redactor.redact(str(error)) == f"Broker refused user ops with password {MASK}"
    quoted = Redactor()
    quoted.register('p@ss "word"/x')
    assert "p%40ss" not in quoted.redact("amqp://u:p%40ss%20%22word%22%2Fx@h/")
    assert quoted.redact(repr({"pw": 'p@ss "word"/x'})) == f"{{'pw': '{MASK}'}}"
    assert quoted.redact('{"pw": "p@ss \\"word\\"/x"}') == f'{{"pw": "{MASK}"}}'


def test_a_secret_containing_another_is_masked_whole() -> None:
    redactor = Redactor()
    redactor.register("abc")
    redactor.register("abcdef")
    assert redactor.redact("x abcdef y abc") == f"x {MASK} y {MASK}"


def test_url_passwords_are_masked_even_when_not_registered() -> None:
    assert redact_url("amqps://ops:s3cr@t@mq.example:5671/prod") == (
        f"amqps://ops:{MASK}@mq.example:5671/prod"
    )
    assert redact_url("http://127.0.0.1:15672/api/queues") == "http://127.0.0.1:15672/api/queues"
    assert redact_url("http://user@host/") == "http://user@host/"
    assert Redactor().redact("see https://a:b@h and https://c:d@e") == (
        f"see https://a:{MASK}@h and https://c:{MASK}@e"
    )


def test_secrets_read_when_connecting_are_registered_with_the_session_redactor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "typed-at-the-prompt-42"
    profile = ConnectionProfile("Rabbit", BrokerKind.RABBITMQ, {"username": "ops"})
    create_connector(profile, prompt=lambda _p, _f: secret)
    assert REDACTOR.contains_secret(f"oops {secret}")
    assert redact(f"oops {secret}") == f"oops {MASK}"

    monkeypatch.setenv("EVENTDESK_T_REDACT_PW", "from-the-environment-42")
    from_env = ConnectionProfile(
        "Env", BrokerKind.RABBITMQ, {"password_env": "EVENTDESK_T_REDACT_PW"}
    )
    create_connector(from_env)
    assert redact("from-the-environment-42") == MASK
