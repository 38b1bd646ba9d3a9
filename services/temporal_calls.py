"""Every call the API makes to Temporal has a deadline; past it the API answers 503 with Retry-After
(api/problems.py maps `TemporalDidNotAnswer`).

A Temporal server that is up but not answering (frozen, overloaded, a partition that drops
packets) leaves a gRPC call waiting for ever unless it carries a deadline: a request would
hang as long as the server does. Each call gets `rpc_timeout` (the gRPC deadline), and the
whole of it runs under `asyncio.timeout` a moment longer, for the SDK's own retries and the
several RPCs of an update.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from core.settings import Settings

# The outer deadline's margin over the gRPC one: the SDK's error, with its status, usually comes first.
_SLACK_SECONDS = 1.0


class TemporalDidNotAnswer(Exception):
    """Temporal did not answer within the deadline; the caller may retry."""


def rpc_timeout(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.temporal_timeout_seconds)


@asynccontextmanager
async def temporal_deadline(settings: Settings, seconds: float | None = None) -> AsyncIterator[None]:
    """Run Temporal calls under the API's deadline (`temporal_timeout_seconds` unless given):
    past it, TemporalDidNotAnswer."""
    try:
        async with asyncio.timeout((seconds or settings.temporal_timeout_seconds) + _SLACK_SECONDS):
            yield
    except TimeoutError:
        raise TemporalDidNotAnswer() from None
