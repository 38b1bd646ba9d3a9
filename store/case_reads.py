"""The case record as the API and operators read it: lists, one case, its timeline, outbox and
ledger. CaseStore (store/cases.py) writes; it inherits these reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.glance import CaseGlance
from store.models import (
    CaseCategoryRow,
    CaseDepartmentRow,
    CaseRow,
    LedgerEntryRow,
    OutboxRow,
    SupersededEventRow,
    TimelineEventRow,
)


def _visible_to(department: str) -> Any:
    """A handler's cases: routed to `department` or assisted by it."""
    return or_(
        CaseRow.department == department,
        CaseRow.number.in_(select(CaseDepartmentRow.case_number).where(CaseDepartmentRow.department == department)),
    )


@dataclass(frozen=True)
class CaseFilter:
    stage: str | None = None
    priority: str | None = None
    department: str | None = None
    category: str | None = None
    # A handler's list: cases routed to this department or assisted by it.
    visible_to: str | None = None
    # Finding a case (services/case_search.py): each an exact match, the received range half-open.
    number: str | None = None
    order_number: str | None = None
    phone_hash: str | None = None  # domain/phone.py: the column holds no phone number
    sku: str | None = None
    assignee: str | None = None
    sla_state: str | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None


class CaseReads:
    _sessions: async_sessionmaker[AsyncSession]

    async def list_cases(self, filters: CaseFilter, limit: int, offset: int) -> tuple[list[CaseRow], int]:
        query = select(CaseRow)
        if filters.stage:
            query = query.where(CaseRow.stage == filters.stage)
        if filters.priority:
            query = query.where(CaseRow.priority == filters.priority)
        if filters.department:
            query = query.where(CaseRow.department == filters.department)
        for column, value in (
            (CaseRow.number, filters.number),
            (CaseRow.order_number, filters.order_number),
            (CaseRow.customer_phone_hash, filters.phone_hash),
            (CaseRow.sku, filters.sku),
            (CaseRow.assignee, filters.assignee),
            (CaseRow.sla_state, filters.sla_state),
        ):
            if value is not None:
                query = query.where(column == value)
        if filters.received_from is not None:
            query = query.where(CaseRow.received_at >= filters.received_from)
        if filters.received_before is not None:
            query = query.where(CaseRow.received_at < filters.received_before)
        if filters.visible_to:
            query = query.where(_visible_to(filters.visible_to))
        if filters.category:
            query = query.where(
                CaseRow.number.in_(
                    select(CaseCategoryRow.case_number).where(CaseCategoryRow.category == filters.category)
                )
            )
        async with self._sessions() as session:
            total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = (
                await session.execute(
                    query.order_by(CaseRow.received_at.desc(), CaseRow.number.desc()).limit(limit).offset(offset)
                )
            ).scalars()
            return list(rows), total

    async def worklists(
        self, stages: Sequence[str], limit: int, visible_to: str | None = None
    ) -> dict[str, list[CaseGlance]]:
        """Per stage, its `limit` latest received cases at a glance, in list_cases' order: an
        inbox's lists in one query, without the counts and whole records it does not show."""
        place = func.row_number().over(
            partition_by=CaseRow.stage, order_by=(CaseRow.received_at.desc(), CaseRow.number.desc())
        )
        ranked = select(*CaseGlance.columns(), CaseRow.received_at, place.label("place")).where(
            CaseRow.stage.in_(stages)
        )
        if visible_to:
            ranked = ranked.where(_visible_to(visible_to))
        r = ranked.subquery("ranked")
        query = (
            select(*(r.c[f.name] for f in fields(CaseGlance)))
            .where(r.c.place <= limit)
            .order_by(r.c.received_at.desc(), r.c.number.desc())
        )
        lists: dict[str, list[CaseGlance]] = {stage: [] for stage in stages}
        async with self._sessions() as session:
            for row in await session.execute(query):
                lists[row.stage].append(CaseGlance(**CaseGlance.read(row)))
        return lists

    async def has_earlier_case(self, number: str, order_number: str, sku: str) -> bool:
        """Another case about the same product of the same order: a repeat failure."""
        async with self._sessions() as session:
            query = select(CaseRow.number).where(
                CaseRow.order_number == order_number, CaseRow.sku == sku, CaseRow.number != number
            )
            return (await session.execute(query.limit(1))).first() is not None

    async def get_case(self, number: str) -> CaseRow | None:
        async with self._sessions() as session:
            return await session.get(CaseRow, number)

    async def assisting(self, number: str) -> list[str]:
        """The departments assisting a case (multi-department cases)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(CaseDepartmentRow.department)
                .where(CaseDepartmentRow.case_number == number)
                .order_by(CaseDepartmentRow.department)
            )
            return list(rows.scalars())

    async def categories(self, numbers: list[str]) -> dict[str, list[str]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(CaseCategoryRow.case_number, CaseCategoryRow.category)
                .where(CaseCategoryRow.case_number.in_(numbers))
                .order_by(CaseCategoryRow.category)
            )
            found: dict[str, list[str]] = {n: [] for n in numbers}
            for number, category in rows:
                found[number].append(category)
            return found

    async def timeline(self, number: str, *, after: int = 0, limit: int | None = None) -> list[TimelineEventRow]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(TimelineEventRow)
                .where(TimelineEventRow.case_number == number, TimelineEventRow.seq > after)
                .order_by(TimelineEventRow.seq)
                .limit(limit)
            )
            return list(rows.scalars())

    async def superseded(self, number: str) -> list[SupersededEventRow]:
        """The audit of events a lost workflow task wrote and the case never did."""
        return await self._of_case(SupersededEventRow, number)

    async def outbox(self, number: str) -> list[OutboxRow]:
        return await self._of_case(OutboxRow, number)

    async def ledger(self, number: str) -> list[LedgerEntryRow]:
        return await self._of_case(LedgerEntryRow, number)

    async def _of_case(self, row_type: Any, number: str) -> list[Any]:
        """A case's rows of one table, in the order they were written."""
        async with self._sessions() as session:
            rows = await session.execute(select(row_type).where(row_type.case_number == number).order_by(row_type.id))
            return list(rows.scalars())
