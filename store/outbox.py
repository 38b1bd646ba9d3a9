"""The outbox as the delivery dispatcher sees it: claim due rows, record each outcome.

A claim is one statement on both backends: `UPDATE ... WHERE id IN (SELECT ... FOR
UPDATE SKIP LOCKED) RETURNING`. On PostgreSQL two dispatchers skip each other's
locked rows; SQLite has no row locks (the FOR UPDATE is not rendered) but runs one
writer at a time, and the outer WHERE re-checks that the row is still due, so a row
is claimed by one dispatcher only. A claim expires after its lease, so a row held by
a dispatcher that died is taken again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import OutboxRow

# unrouted: configuration names no receiver for it (delivery.notify.NotRouted); never retried.
PENDING, SENDING, DELIVERED, FAILED, UNROUTED = "pending", "sending", "delivered", "failed", "unrouted"


@dataclass(frozen=True)
class OutboundNotification:
    """One outbox row as an adapter sees it. `recipient` is a role or "customer":
    contact details stay in the case record, never in a notification."""

    id: int
    case_number: str
    seq: int
    recipient: str
    topic: str
    body: dict[str, Any]
    created_at: datetime
    attempt: int  # 1 for the first try

    @property
    def key(self) -> str:
        """Stable across retries: the receiver's deduplication key."""
        return f"{self.case_number}:{self.seq}:{self.recipient}:{self.topic}"

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "case_number": self.case_number,
            "seq": self.seq,
            "recipient": self.recipient,
            "topic": self.topic,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


class OutboxStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboundNotification]:
        due = or_(
            and_(
                OutboxRow.status == PENDING, or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now)
            ),
            and_(OutboxRow.status == SENDING, OutboxRow.claimed_until < now),
        )
        candidates = (
            select(OutboxRow.id).where(due).order_by(OutboxRow.id).limit(limit).with_for_update(skip_locked=True)
        )
        claim = (
            update(OutboxRow)
            .where(OutboxRow.id.in_(candidates), due)
            .values(status=SENDING, claimed_until=now + lease, attempts=OutboxRow.attempts + 1)
            .returning(
                OutboxRow.id, OutboxRow.case_number, OutboxRow.seq, OutboxRow.recipient, OutboxRow.topic,
                OutboxRow.body, OutboxRow.created_at, OutboxRow.attempts,
            )
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        async with self._sessions.begin() as session:
            rows = (await session.execute(claim)).all()
        return sorted(
            (
                OutboundNotification(
                    id=r.id, case_number=r.case_number, seq=r.seq, recipient=r.recipient, topic=r.topic,
                    body=r.body, created_at=r.created_at, attempt=r.attempts,
                )
                for r in rows
            ),
            key=lambda n: n.id,
        )  # fmt: skip

    async def _finish(self, row_id: int, claimed_at_attempt: int, **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == SENDING, OutboxRow.attempts == claimed_at_attempt)
                .values(claimed_until=None, **values)
                .execution_options(synchronize_session=False)
            )

    async def mark_delivered(self, row_id: int, attempts: int, at: datetime) -> None:
        await self._finish(row_id, attempts, status=DELIVERED, sent_at=at, last_error=None)

    async def mark_retry(self, row_id: int, attempts: int, retry_at: datetime, error: str) -> None:
        await self._finish(row_id, attempts, status=PENDING, next_attempt_at=retry_at, last_error=error)

    async def defer(self, row_id: int, attempts: int, until: datetime, reason: str) -> None:
        """Due again at `until`; this claim counts as no attempt (quiet hours are no failure)."""
        await self._finish(
            row_id, attempts, status=PENDING, next_attempt_at=until, attempts=attempts - 1, last_error=reason
        )

    async def mark_failed(self, row_id: int, attempts: int, error: str) -> None:
        await self._finish(row_id, attempts, status=FAILED, last_error=error)

    async def mark_unrouted(self, row_id: int, attempts: int, reason: str) -> None:
        await self._finish(row_id, attempts, status=UNROUTED, last_error=reason)

    async def retry_failed(self, row_id: int) -> OutboxRow | None:
        """Put a notification that failed for good back in the queue, due now, with its attempts
        counted afresh. Only a failed row moves: of two retries of one row, one does (None for the
        other, and for a row that is not failed or not there)."""
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == FAILED)
                .values(status=PENDING, attempts=0, next_attempt_at=None, claimed_until=None)
                .returning(OutboxRow.id)
                .execution_options(synchronize_session=False)
            )
            if moved.first() is None:
                return None
            return await session.get(OutboxRow, row_id)

    async def get(self, row_id: int) -> OutboxRow | None:
        async with self._sessions() as session:
            return await session.get(OutboxRow, row_id)

    async def with_status(self, status: str, limit: int = 100) -> list[OutboxRow]:
        """For operators: e.g. every notification that failed for good."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(OutboxRow).where(OutboxRow.status == status).order_by(OutboxRow.id.desc()).limit(limit)
            )
            return list(rows.scalars())
