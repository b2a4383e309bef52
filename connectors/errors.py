"""One hierarchy for every broker's failures, so the UI has one thing to catch.

Adapters translate their SDK's exceptions at the boundary; nothing above
connectors/ ever sees an aiokafka, aiormq or botocore exception.
"""

from __future__ import annotations


class EventdeskError(Exception):
    """Root of every error Eventdesk raises on purpose.

    `hint` says what the operator can do about it, in one sentence.
    """

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.args[0] if self.args else type(self).__name__


class ConfigurationError(EventdeskError):
    """A connection profile or a setting is missing or malformed."""

    hint = "Check the connection's settings."


class BrokerUnreachable(EventdeskError):
    """No connection could be made: DNS, TCP, or the broker is not running."""

    hint = "Check that the broker is running and that host and port are right."


class ConnectionLost(EventdeskError):
    """The link to the broker went away mid-operation."""

    hint = (
        "The broker went away. Nothing was changed by the interrupted step; "
        "try again once it is back."
    )


class OperationTimeout(EventdeskError):
    """The broker did not answer in time."""

    hint = "The broker is slow or unreachable; try again, or raise the timeout."


class AuthenticationFailed(EventdeskError):
    """The broker refused the credentials."""

    hint = "Check the user name and password of the connection."


class AuthorizationFailed(EventdeskError):
    """The credentials are valid but lack a permission."""

    hint = "Ask the broker's administrator for the permission named above."


class EndpointNotFound(EventdeskError):
    """The topic or queue does not exist (any more)."""

    hint = "Refresh the endpoint list: it may have been deleted."


class BrokerError(EventdeskError):
    """The broker answered with an error that fits no category above."""

    hint = "See the broker's message above; the broker's own logs may say more."


# "The link is gone": retrying later may work, the operation itself was fine.
CONNECTION_ERRORS: tuple[type[EventdeskError], ...] = (
    BrokerUnreachable,
    ConnectionLost,
    OperationTimeout,
)


class TlsError(EventdeskError):
    """The TLS handshake failed: a certificate was refused, by either side."""

    hint = "Check the connection's TLS settings: CA file, client certificate and key."
