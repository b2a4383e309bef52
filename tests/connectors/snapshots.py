"""Waiting, in a test, for a Sampler to report what the test expects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from eventdesk.connectors.sampling import Sampler, Snapshot


async def first_snapshot(
    sampler: Sampler, done: Callable[[Snapshot], bool], *, timeout: float = 20.0
) -> Snapshot:
    """The first snapshot for which `done` holds; fails with the last one seen otherwise."""
    last: Snapshot | None = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for snapshot in sampler:
                last = snapshot
                if done(snapshot):
                    return snapshot
    pytest.fail(f"condition not met within {timeout} s; last snapshot: {last}")
