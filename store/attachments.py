"""The record of uploaded files (case_attachments): written by the customer page's service, read
by the API that serves them to the people who may see the case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import CaseAttachmentRow, IdempotencyKeyRow


class AttachmentStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, rows: list[CaseAttachmentRow]) -> None:
        async with self._sessions.begin() as session:
            session.add_all(rows)

    async def remove(self, references: list[str]) -> None:
        if references:
            async with self._sessions.begin() as session:
                await session.execute(delete(CaseAttachmentRow).where(CaseAttachmentRow.reference.in_(references)))

    async def of_case(self, number: str, limit: int = 100, offset: int = 0) -> list[CaseAttachmentRow]:
        async with self._sessions() as session:
            query = (
                select(CaseAttachmentRow)
                .where(CaseAttachmentRow.case_number == number)
                .order_by(CaseAttachmentRow.id)
                .limit(limit)
                .offset(offset)
            )
            return list((await session.scalars(query)).all())

    async def one(self, number: str, reference: str) -> CaseAttachmentRow | None:
        async with self._sessions() as session:
            row = await session.scalar(select(CaseAttachmentRow).where(CaseAttachmentRow.reference == reference))
            return row if row is not None and row.case_number == number else None

    async def answered_at(self, scope: str, key: str) -> datetime | None:
        """When the answer an Idempotency-Key stands for was completed; None if it was not (yet)."""
        async with self._sessions() as session:
            row = await session.get(IdempotencyKeyRow, (scope, key))
            return row.created_at if row is not None and row.state == "done" else None
