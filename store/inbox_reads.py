"""The inbox's reads beyond a stage list (services/inbox.py), read from the record like the queues:

- call-backs due: a customer who gave a low score (or whose fix did not hold) waits for a
  call-back: more `call_back_task_created` than `call_back_completed` events. The task
  outlives its cycle, so any case not yet archived counts (store/ops.py reads it the same way);
- plan rejections in the case's current cycle (since its last `reopened`): the rejection
  that sends a plan's approval to the head;
- cases no department assists yet (no `case_departments` row): naming always names at
  least one assisting department (domain/contribution.py `DepartmentsNaming`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import CaseDepartmentRow, CaseRow, TimelineEventRow


def _events(kind: str) -> Any:
    return (
        select(func.count())
        .select_from(TimelineEventRow)
        .where(TimelineEventRow.case_number == CaseRow.number, TimelineEventRow.kind == kind)
        .correlate(CaseRow)
        .scalar_subquery()
    )


class InboxReads:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def call_backs_open(self, limit: int) -> list[CaseRow]:
        """Cases whose customer waits for a call-back, the earliest deadline first."""
        query = (
            select(CaseRow)
            .where(CaseRow.stage != "archived", _events("call_back_task_created") > _events("call_back_completed"))
            .order_by(CaseRow.next_deadline, CaseRow.number)
            .limit(limit)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def rejections_this_cycle(self, numbers: list[str]) -> dict[str, int]:
        """Per case, the plans rejected since it was last reopened (all of them if never)."""
        found = dict.fromkeys(numbers, 0)
        if not numbers:
            return found
        query = (
            select(TimelineEventRow.case_number, TimelineEventRow.kind)
            .where(
                TimelineEventRow.case_number.in_(numbers),
                TimelineEventRow.kind.in_(("plan_rejected", "reopened")),
            )
            .order_by(TimelineEventRow.case_number, TimelineEventRow.seq)
        )
        async with self._sessions() as session:
            for number, kind in await session.execute(query):
                found[number] = 0 if kind == "reopened" else found[number] + 1
        return found

    async def assisted(self, numbers: list[str]) -> set[str]:
        """Those of `numbers` that some other department assists (departments were named)."""
        if not numbers:
            return set()
        query = select(CaseDepartmentRow.case_number).where(CaseDepartmentRow.case_number.in_(numbers)).distinct()
        async with self._sessions() as session:
            return set((await session.execute(query)).scalars())
