"""The queues of cases waiting for a supervisor (module lead) or for the after-sales head, a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.case import Department
from domain.queues import Queue, QueueReason
from domain.sla import ClockName
from store.cases import CaseStore
from store.glance import CaseGlance, CaseGlanceView
from store.queues import BadCursor, Cursor, QueuedCase, QueueStore

__all__ = ["BadCursor", "QueueEntry", "QueueEntryReason", "QueuePage", "queue_page"]


class QueueEntryReason(BaseModel):
    reason: QueueReason
    since: datetime = Field(description="when the case came to this role for this reason")
    clock: ClockName | None = Field(default=None, description="sla_escalated: the deadline missed")
    missed_deadline: datetime | None = Field(default=None, description="sla_escalated: when it was due")
    escalation_level: int | None = None
    escalated_to: str | None = Field(default=None, description="sla_escalated: the rung of the ladder reached")


class QueueEntry(CaseGlanceView):  # made by create_model (store/glance.py)
    escalated_to: str | None = Field(description="the highest rung a missed deadline reached")
    since: datetime = Field(description="the earliest of the reasons' since: how long this role has had it")
    missed_deadline: datetime | None = Field(description="the earliest deadline missed and still unmet")
    reasons: list[QueueEntryReason]


class QueuePage(BaseModel):
    queue: Queue
    items: list[QueueEntry]
    total: int
    limit: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def _reason(reason: QueueReason, since: datetime, details: dict[str, Any]) -> QueueEntryReason:
    due = details.get("due_at")
    return QueueEntryReason(
        reason=reason,
        since=since,
        clock=details.get("clock"),
        missed_deadline=datetime.fromisoformat(due) if due else None,
        escalation_level=details.get("level"),
        escalated_to=details.get("rung"),
    )


def _entry(case: QueuedCase) -> QueueEntry:
    return QueueEntry(
        **CaseGlance.read(case),
        escalated_to=case.escalated_to,
        since=case.since,
        missed_deadline=case.missed_deadline,
        reasons=[_reason(*reason) for reason in case.reasons],
    )


async def queue_page(
    store: CaseStore, queue: Queue, limit: int, cursor: str | None, department: Department | None
) -> QueuePage:
    """One page of the queue, most urgent first; BadCursor for a cursor this list did not hand out."""
    after = Cursor.decode(cursor) if cursor else None
    items, total, following = await QueueStore(store.sessions).queue(
        queue, limit=limit, after=after, department=department.value if department else None
    )
    return QueuePage(
        queue=queue,
        items=[_entry(case) for case in items],
        total=total,
        limit=limit,
        next_cursor=following.encode() if following else None,
    )
