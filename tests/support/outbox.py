"""Running the outbox dispatcher in a test, as the worker process runs it, and reading the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from delivery.notify import NotificationAdapter, OutboxDispatcher, RetrySchedule
from store.db import session_factory
from store.models import OutboxRow
from store.outbox import OutboxStore

FAST = RetrySchedule(max_attempts=3, base=timedelta(milliseconds=50), ceiling=timedelta(milliseconds=200))


@asynccontextmanager
async def dispatching(
    database: Any,
    adapter: NotificationAdapter,
    case: str,
    schedule: RetrySchedule = FAST,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AsyncIterator[OutboxStore]:
    """A dispatcher running as a task, as the worker process runs it, for `case` and later ones:
    the session's earlier tests left their notifications pending (they run no dispatcher), and
    sending that backlog first would only measure how many tests ran before."""
    await park_other_cases(database, case)
    store = OutboxStore(session_factory(database.engine))
    task = asyncio.create_task(OutboxDispatcher(store, adapter, schedule, poll_interval=0.05, now=now).run())
    try:
        yield store
    finally:
        task.cancel()
        # Bounded: a dispatcher that outlived its test would deliver the next tests' messages.
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


async def park_other_cases(database: Any, case: str) -> None:
    async with session_factory(database.engine).begin() as session:
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.status == "pending", OutboxRow.case_number != case)
            .values(next_attempt_at=datetime.now(UTC) + timedelta(days=365))
        )


async def row(database: Any, number: str, topic: str):  # noqa: ANN201 - OutboxRow | None
    for outbox in await database.store.outbox(number):
        if outbox.topic == topic:
            return outbox
    return None


async def with_status(database: Any, number: str, topic: str, status: str):  # noqa: ANN202
    found = await row(database, number, topic)
    return found if found is not None and found.status == status else None
