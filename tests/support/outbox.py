"""Running the outbox dispatcher in a test, as the worker process runs it, and reading the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from delivery.notify import NotificationAdapter, OutboxDispatcher, RetrySchedule
from store.db import session_factory
from store.models import CaseRow, OutboxRow
from store.outbox import OutboundNotification, OutboxStore

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
    async with session_factory(database.engine)() as session:
        earlier = set((await session.execute(select(CaseRow.number).where(CaseRow.number != case))).scalars())
    store = _LaterCasesOutbox(session_factory(database.engine), earlier)
    task = asyncio.create_task(OutboxDispatcher(store, adapter, schedule, poll_interval=0.05, now=now).run())
    try:
        yield store
    finally:
        task.cancel()
        # Bounded: a dispatcher that outlived its test would deliver the next tests' messages.
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


class _LaterCasesOutbox(OutboxStore):
    """The outbox as the dispatcher sees it, without the cases opened before the test's own: their
    workflows, still running from earlier tests (on this worker of pytest-xdist, whichever those
    were), go on adding messages after `park_other_cases`, which the test's adapter would send too."""

    def __init__(self, sessions: Any, earlier: set[str]) -> None:
        super().__init__(sessions)
        self._earlier = earlier

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboundNotification]:
        claimed = await super().claim_due(now, limit, lease)
        for notification in claimed:
            if notification.case_number in self._earlier:  # left pending, as park_other_cases leaves them
                await self.defer(notification.id, notification.attempt, now + timedelta(days=365), "an earlier test's")
        return [n for n in claimed if n.case_number not in self._earlier]


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
