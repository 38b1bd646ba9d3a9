"""ChannelStore: marketplace messages as received (once per message id) and the one case of
each platform after-sale. The intake service (services/channel_intake.py) is its only writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.marketplace import PlatformEvent
from store.models import ChannelMessageRow, PlatformLinkRow, table_of

RECEIVED = "received"
APPLIED = "applied"
HELD = "held"


def _insert(session: AsyncSession, table: type) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table_of(table))


class ChannelStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, event: PlatformEvent, now: datetime) -> bool:
        """Record a message; False when its id was recorded before (a redelivery)."""
        async with self._sessions.begin() as session:
            statement = (
                _insert(session, ChannelMessageRow)
                .values(
                    platform=event.platform.value,
                    message_id=event.message_id,
                    topic=event.topic,
                    step=event.step.value,
                    after_sale_id=event.after_sale_id,
                    occurred_at=event.occurred_at,
                    version=event.version,
                    received_at=now,
                    event=event.model_dump(mode="json"),
                    state=RECEIVED,
                )
                .on_conflict_do_nothing(index_elements=["platform", "message_id"])
                .returning(table_of(ChannelMessageRow).c.id)
            )
            return (await session.execute(statement)).scalar_one_or_none() is not None

    async def message_state(self, platform: str, message_id: str) -> tuple[str, str | None] | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ChannelMessageRow.state, ChannelMessageRow.case_number).where(
                        ChannelMessageRow.platform == platform, ChannelMessageRow.message_id == message_id
                    )
                )
            ).one_or_none()
            return (row[0], row[1]) if row is not None else None

    async def case_of(self, platform: str, after_sale_id: str) -> str | None:
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(PlatformLinkRow.case_number).where(
                        PlatformLinkRow.platform == platform, PlatformLinkRow.after_sale_id == after_sale_id
                    )
                )
            ).scalar_one_or_none()

    async def after_sale_of(self, case_number: str) -> tuple[str, str] | None:
        """(platform, after-sale id) the case answers (one each); None for a case that did not
        come from a marketplace."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(PlatformLinkRow.platform, PlatformLinkRow.after_sale_id).where(
                        PlatformLinkRow.case_number == case_number
                    )
                )
            ).one_or_none()
            return (row[0], row[1]) if row is not None else None

    async def link(self, event: PlatformEvent, number: str, now: datetime) -> str:
        """Bind the after-sale to `number` unless it has a case already; the case it has."""
        async with self._sessions.begin() as session:
            await session.execute(
                _insert(session, PlatformLinkRow)
                .values(
                    platform=event.platform.value,
                    after_sale_id=event.after_sale_id,
                    case_number=number,
                    order_number=event.order_number,
                    status=event.status,
                    deadline=event.deadline,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["platform", "after_sale_id"])
            )
            return (
                await session.execute(
                    select(PlatformLinkRow.case_number).where(
                        PlatformLinkRow.platform == event.platform.value,
                        PlatformLinkRow.after_sale_id == event.after_sale_id,
                    )
                )
            ).scalar_one()

    async def waiting(self, platform: str, after_sale_id: str) -> list[PlatformEvent]:
        """The after-sale's messages not yet applied, in the platform's order."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ChannelMessageRow.event)
                    .where(
                        ChannelMessageRow.platform == platform,
                        ChannelMessageRow.after_sale_id == after_sale_id,
                        ChannelMessageRow.state.in_((RECEIVED, HELD)),
                    )
                    .order_by(ChannelMessageRow.occurred_at, ChannelMessageRow.version, ChannelMessageRow.id)
                )
            ).scalars()
            return [PlatformEvent.model_validate(row) for row in rows]

    async def unapplied(self, limit: int = 100) -> list[PlatformEvent]:
        """Messages recorded but not applied (an intake cut short): for a sweep to finish."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ChannelMessageRow.event)
                    .where(ChannelMessageRow.state.in_((RECEIVED, HELD)))
                    .order_by(ChannelMessageRow.id)
                    .limit(limit)
                )
            ).scalars()
            return [PlatformEvent.model_validate(row) for row in rows]

    async def mark(self, event: PlatformEvent, state: str, now: datetime, case_number: str | None = None) -> None:
        async with self._sessions.begin() as session:
            values: dict[str, Any] = {"state": state}
            if state == APPLIED:
                values["applied_at"] = now
            if case_number is not None:
                values["case_number"] = case_number
            await session.execute(
                update(ChannelMessageRow)
                .where(
                    ChannelMessageRow.platform == event.platform.value,
                    ChannelMessageRow.message_id == event.message_id,
                )
                .values(**values)
            )
            if state == APPLIED and case_number is not None and event.status is not None:
                await session.execute(
                    update(PlatformLinkRow)
                    .where(
                        PlatformLinkRow.platform == event.platform.value,
                        PlatformLinkRow.after_sale_id == event.after_sale_id,
                    )
                    .values(status=event.status, updated_at=now)
                )
            if state == APPLIED and case_number is not None and event.deadline is not None:
                await session.execute(
                    update(PlatformLinkRow)
                    .where(
                        PlatformLinkRow.platform == event.platform.value,
                        PlatformLinkRow.after_sale_id == event.after_sale_id,
                    )
                    .values(deadline=event.deadline, updated_at=now)
                )

    async def messages(self, platform: str, after_sale_id: str) -> list[dict[str, Any]]:
        """What was received for an after-sale, oldest first (tests and operators)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ChannelMessageRow)
                    .where(ChannelMessageRow.platform == platform, ChannelMessageRow.after_sale_id == after_sale_id)
                    .order_by(ChannelMessageRow.id)
                )
            ).scalars()
            return [
                {"message_id": r.message_id, "topic": r.topic, "state": r.state, "case_number": r.case_number}
                for r in rows
            ]
