"""Versions of the SLA policy and the business calendar, and the open cases pinned to older ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import ScalarSelect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.calendar import BusinessCalendar
from domain.sla import SlaPolicy
from store.models import CalendarVersionRow, CaseRow, SlaPolicyVersionRow

# An uploaded version this store keeps: one table each, the same columns.
_Version = TypeVar("_Version", SlaPolicyVersionRow, CalendarVersionRow)

FINISHED_STAGES = ("closed", "withdrawn", "archived")


class VersionExists(Exception):
    """That version name is taken by a different body."""


@dataclass(frozen=True)
class PinnedCase:
    number: str
    stage: str
    priority: str | None
    channel: str
    customer_tier: str
    policy_version: str | None
    calendar_version: str | None
    next_deadline: datetime | None


class RulesStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_policy(self, policy: SlaPolicy, actor_id: str) -> bool:
        """Store a new version; False when the identical version was stored before."""
        return await self._add(SlaPolicyVersionRow, policy.version, policy.model_dump(mode="json"), actor_id)

    async def add_calendar(self, calendar: BusinessCalendar, actor_id: str) -> bool:
        return await self._add(CalendarVersionRow, calendar.version, calendar.model_dump(mode="json"), actor_id)

    async def _add(self, table: type[_Version], version: str, body: dict, actor_id: str) -> bool:
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(table, version)
                if existing is not None:
                    if existing.body != body:
                        raise VersionExists(version)
                    return False
                session.add(table(version=version, body=body, created_at=datetime.now(UTC), created_by=actor_id))
            return True
        except IntegrityError:
            return await self._add(table, version, body, actor_id)

    async def latest_versions(self) -> tuple[str | None, str | None]:
        """The newest policy and calendar version names, in one statement: every case opened
        asks, and the bodies behind a name never change (see `policy`, `calendar`)."""

        def newest(table: type[_Version]) -> ScalarSelect[str]:
            return (
                select(table.version).order_by(table.created_at.desc(), table.version.desc()).limit(1).scalar_subquery()
            )

        async with self._sessions() as session:
            policy, calendar = (
                await session.execute(select(newest(SlaPolicyVersionRow), newest(CalendarVersionRow)))
            ).one()
        return policy, calendar

    async def policy(self, version: str) -> SlaPolicy | None:
        async with self._sessions() as session:
            row = await session.get(SlaPolicyVersionRow, version)
            return SlaPolicy.model_validate(row.body) if row else None

    async def calendar(self, version: str) -> BusinessCalendar | None:
        async with self._sessions() as session:
            row = await session.get(CalendarVersionRow, version)
            return BusinessCalendar.model_validate(row.body) if row else None

    async def open_cases_not_on(
        self, *, policy_version: str | None = None, calendar_version: str | None = None
    ) -> list[PinnedCase]:
        """Open cases pinned to another policy (or calendar) version than the one given."""
        query = select(CaseRow).where(CaseRow.stage.not_in(FINISHED_STAGES))
        if policy_version is not None:
            query = query.where((CaseRow.policy_version != policy_version) | CaseRow.policy_version.is_(None))
        if calendar_version is not None:
            query = query.where((CaseRow.calendar_version != calendar_version) | CaseRow.calendar_version.is_(None))
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(CaseRow.number))).scalars()
            return [
                PinnedCase(
                    number=row.number,
                    stage=row.stage,
                    priority=row.priority,
                    channel=row.channel,
                    customer_tier=row.customer_tier,
                    policy_version=row.policy_version,
                    calendar_version=row.calendar_version,
                    next_deadline=row.next_deadline,
                )
                for row in rows
            ]
