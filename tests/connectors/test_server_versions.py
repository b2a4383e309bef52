"""The broker versions an incident report names, read from the real brokers."""

from __future__ import annotations

import re

import pytest
from eventdesk.connectors.nats import NatsConnector
from eventdesk.connectors.rabbitmq import RabbitMQConnector


@pytest.mark.rabbitmq
async def test_rabbitmq_reports_its_version_from_the_management_api(rabbitmq) -> None:
    async with RabbitMQConnector(**rabbitmq.account()) as connector:
        assert re.fullmatch(r"RabbitMQ \d+\.\d+\.\d+", await connector.server_version() or "")


@pytest.mark.nats
async def test_nats_reports_the_version_it_announced(nats: str) -> None:
    connector = NatsConnector(nats)
    assert connector.server_version() is None  # not connected: nothing to say
    async with connector:
        assert re.fullmatch(r"nats-server \d+\.\d+\.\d+", connector.server_version() or "")
