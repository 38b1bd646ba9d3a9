"""The supervisor's and the head's queues: which open cases need them, and why.

DOMAIN.md: "if nobody responds in time, the case escalates to the supervisor queue
automatically", and a breach still unmet climbs to the after-sales head. The
workflow leaves each still-breached clock's rung on the case record (`Escalation`,
carried by every transition's snapshot), so the queues are read from the database
like every other list. Other reasons come from the record too: a plan waiting for
this role's approval, a resolution waiting for a person (follow-up task), a case
reopened so often that the head triages it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from domain.sla import ClockName, ClockState, SlaClock


class Queue(StrEnum):
    SUPERVISOR = "supervisor"
    HEAD = "head"


class QueueReason(StrEnum):
    SLA_ESCALATED = "sla_escalated"  # a missed deadline climbed the ladder to this role
    AWAITING_APPROVAL = "awaiting_approval"  # a plan waits for this role's approval
    FOLLOW_UP_TASK = "follow_up_task"  # every payment route failed: a person carries it out
    REOPEN_LIMIT = "reopen_limit"  # reopened too often: the head triages it


class Escalation(BaseModel):
    """One clock still breached, and how far up the ladder it has climbed."""

    clock: ClockName
    level: int  # 1: the first rung (supervisor), 2: the next (head)...
    rung: str
    due_at: datetime  # the deadline missed
    breached_at: datetime | None
    escalated_at: datetime | None  # when it reached `rung`


def escalations(clocks: dict[ClockName, SlaClock], ladder: list[str]) -> list[Escalation]:
    """The clocks still breached (a met clock leaves the queue), earliest deadline first."""
    found = [
        Escalation(
            clock=clock.name,
            level=clock.escalation_level,
            rung=ladder[min(clock.escalation_level, len(ladder)) - 1],
            due_at=clock.due_at,
            breached_at=clock.breached_at,
            escalated_at=clock.escalated_at or clock.breached_at,
        )
        for clock in clocks.values()
        if clock.state is ClockState.BREACHED and clock.escalation_level > 0
    ]
    return sorted(found, key=lambda e: (e.due_at, e.clock.value))


class EscalationSummary(BaseModel):
    """What the case row keeps for ordering and filtering the queues."""

    escalated_to: str | None = None  # the highest rung reached
    escalated_at: datetime | None = None  # when the case reached that rung
    first_breached_at: datetime | None = None  # when it first entered the supervisor queue
    missed_deadline: datetime | None = None  # the earliest deadline missed and still unmet


def summarize(found: list[Escalation]) -> EscalationSummary:
    if not found:
        return EscalationSummary()
    top = max(e.level for e in found)
    at_top = [e for e in found if e.level == top]
    return EscalationSummary(
        escalated_to=at_top[0].rung,
        escalated_at=min((e.escalated_at for e in at_top if e.escalated_at), default=None),
        first_breached_at=min((e.breached_at for e in found if e.breached_at), default=None),
        missed_deadline=min(e.due_at for e in found),
    )
