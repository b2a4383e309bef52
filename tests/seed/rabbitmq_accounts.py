"""Temporary RabbitMQ users and vhosts, made through the management API and removed after."""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

from eventdesk.connectors.errors import EndpointNotFound
from eventdesk.connectors.rabbitmq import ManagementClient


@dataclass(frozen=True)
class RabbitMQAccount:
    username: str
    password: str
    vhost: str

    def __repr__(self) -> str:  # the password stays out of test output
        return f"RabbitMQAccount({self.username!r}, vhost={self.vhost!r})"


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@contextlib.asynccontextmanager
async def temporary_account(
    admin: ManagementClient,
    prefix: str,
    *,
    tags: str = "",
    permissions: tuple[str, str, str] | None = None,
) -> AsyncIterator[RabbitMQAccount]:
    """A new user and a new vhost; `permissions` (configure, write, read) on it, or none."""
    account = RabbitMQAccount(
        username=f"{prefix}-user",
        password=f"pw-{secrets.token_hex(12)}",
        vhost=f"{prefix}-vhost",
    )
    await admin.put(f"/api/vhosts/{_quoted(account.vhost)}", {})
    await admin.put(
        f"/api/users/{_quoted(account.username)}",
        {"password": account.password, "tags": tags},
    )
    if permissions is not None:
        configure, write, read = permissions
        await admin.put(
            f"/api/permissions/{_quoted(account.vhost)}/{_quoted(account.username)}",
            {"configure": configure, "write": write, "read": read},
        )
    try:
        yield account
    finally:
        for path in (
            f"/api/users/{_quoted(account.username)}",
            f"/api/vhosts/{_quoted(account.vhost)}",
        ):
            with contextlib.suppress(EndpointNotFound):
                await admin.delete(path)
