"""What a staff alert may say about its case, read when it is sent (delivery/robots).

Only what staff need to act and nothing personal: the case's priority and department,
its next deadline, and the fields of the event behind the alert that name clocks, instants
and rungs. The customer's name, phone, address and every free text stay in the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import CaseRow, TimelineEventRow

# The event fields an alert may quote: clock names, instants, rungs, levels and fractions.
EVENT_FIELDS = ("clock", "due_at", "fraction", "escalated_to", "escalation_level", "to", "approver", "department")


@dataclass(frozen=True)
class AlertFacts:
    priority: str | None
    department: str | None
    next_deadline: datetime | None
    event: dict[str, Any] = field(default_factory=dict)  # only EVENT_FIELDS of the event behind the alert


async def alert_facts(sessions: async_sessionmaker[AsyncSession], case_number: str, seq: int) -> AlertFacts | None:
    """None when the case is gone (anonymised or deleted before the alert went out)."""
    async with sessions() as session:
        case = (
            await session.execute(
                select(CaseRow.priority, CaseRow.department, CaseRow.next_deadline).where(CaseRow.number == case_number)
            )
        ).first()
        if case is None:
            return None
        data = (
            await session.execute(
                select(TimelineEventRow.data).where(
                    TimelineEventRow.case_number == case_number, TimelineEventRow.seq == seq
                )
            )
        ).scalar()
    event = {
        key: value
        for key, value in (data or {}).items()
        if key in EVENT_FIELDS and isinstance(value, str | int | float)
    }
    return AlertFacts(priority=case.priority, department=case.department, next_deadline=case.next_deadline, event=event)
