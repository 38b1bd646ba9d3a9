"""/queues: the cases waiting for a supervisor (module lead) or for the after-sales head."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Caller, Store
from api.problems import Problem
from domain.case import Department
from domain.queues import Queue, QueueReason
from domain.sla import ClockName
from store.queues import BadCursor, Cursor, QueuedCase, QueueStore

router = APIRouter(prefix="/queues", tags=["queues"])


class QueueEntryReason(BaseModel):
    reason: QueueReason
    since: datetime = Field(description="when the case came to this role for this reason")
    clock: ClockName | None = Field(default=None, description="sla_escalated: the deadline missed")
    missed_deadline: datetime | None = Field(default=None, description="sla_escalated: when it was due")
    escalation_level: int | None = None
    escalated_to: str | None = Field(default=None, description="sla_escalated: the rung of the ladder reached")


class QueueEntry(BaseModel):
    number: str
    stage: str
    priority: str | None
    department: str | None
    assignee: str | None
    sla_state: str
    escalation_level: int
    escalated_to: str | None = Field(description="the highest rung a missed deadline reached")
    since: datetime = Field(description="the earliest of the reasons' since: how long this role has had it")
    missed_deadline: datetime | None = Field(description="the earliest deadline missed and still unmet")
    next_deadline: datetime | None
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
        number=case.number,
        stage=case.stage,
        priority=case.priority,
        department=case.department,
        assignee=case.assignee,
        sla_state=case.sla_state,
        escalation_level=case.escalation_level,
        escalated_to=case.escalated_to,
        since=case.since,
        missed_deadline=case.missed_deadline,
        next_deadline=case.next_deadline,
        reasons=[_reason(*reason) for reason in case.reasons],
    )


async def _page(store: Store, queue: Queue, limit: int, cursor: str | None, department: Department | None) -> QueuePage:
    try:
        after = Cursor.decode(cursor) if cursor else None
    except BadCursor:
        raise Problem(
            422, "Invalid request", "the cursor is not one this list handed out",
            errors=[{"field": "query.cursor", "message": "not a cursor of this list"}],
        ) from None  # fmt: skip
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


Limit = Annotated[int, Query(ge=1, le=100, description="at most this many cases, most urgent first")]
CursorParam = Annotated[str | None, Query(max_length=512, description="the `next_cursor` of the previous page")]


@router.get(
    "/supervisor",
    response_model=QueuePage,
    summary="Open cases waiting for a supervisor: escalated by a missed deadline, a plan to approve, a follow-up task",
)
async def supervisor_queue(
    store: Store,
    actor: Caller,
    limit: Limit = 20,
    cursor: CursorParam = None,
    department: Department | None = None,
) -> QueuePage:
    return await _page(store, Queue.SUPERVISOR, limit, cursor, department)


@router.get(
    "/head",
    response_model=QueuePage,
    summary="Open cases waiting for the after-sales head: escalated to the head, a plan to approve, reopened too often",
)
async def head_queue(
    store: Store,
    actor: Caller,
    limit: Limit = 20,
    cursor: CursorParam = None,
    department: Department | None = None,
) -> QueuePage:
    return await _page(store, Queue.HEAD, limit, cursor, department)
