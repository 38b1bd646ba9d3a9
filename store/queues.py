"""The supervisor's and the head's queues, read from the record (domain/queues.py says why a
case is in one).

Reasons and since when:

- sla_escalated: a deadline missed and still unmet climbed to the role (`escalation_level`
  1+ for the supervisor, `escalated_to = 'head'` for the head), since the breach (supervisor)
  or since it reached the head;
- awaiting_approval: a plan waits for this role's approval (the `approver` the
  `plan_proposed` event named), since the plan was proposed;
- follow_up_task (supervisor): a resolution no payment route could carry out waits for a
  person, since the task was created;
- reopen_limit (head): reopened too often and waiting for the head's triage, since then.

Most urgent first: priority (P1 first, ungraded last), then the longest waiting, then the
case number; pages are cut by a keyset cursor on exactly that order, so a case never
shows twice or goes missing between pages while others join or leave the queue.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.payloads import PLAN_APPROVER
from domain.queues import Queue, QueueReason
from store.glance import CaseGlance
from store.models import CaseRow, TimelineEventRow, UtcDateTime
from store.rules import FINISHED_STAGES

PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
UNGRADED = 5


class BadCursor(ValueError):
    """The cursor was not one this API handed out."""


@dataclass(frozen=True)
class Cursor:
    rank: int
    since: datetime
    number: str

    def encode(self) -> str:
        raw = json.dumps({"r": self.rank, "s": self.since.isoformat(), "n": self.number}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            # In UTC here, as the database compares it: year 1 or 9999 at an extreme offset has no UTC instant.
            since = datetime.fromisoformat(raw["s"])
            since = since.astimezone(UTC) if since.tzinfo is not None else since
            rank, number = int(raw["r"]), str(raw["n"])
            if since.tzinfo is None or not 1 <= rank <= UNGRADED or len(number) > 32:
                raise ValueError("not a position in a queue")
            return cls(rank=rank, since=since, number=number)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError) as error:
            raise BadCursor(str(error)) from None


@dataclass
class QueuedCase(CaseGlance):
    escalated_to: str | None
    missed_deadline: datetime | None
    since: datetime
    # (reason, since, details): details are the escalations of a clock, or empty.
    reasons: list[tuple[QueueReason, datetime, dict[str, Any]]] = field(default_factory=list)


# The timeline events a queue reads: the latest of each kind (its seq), and the follow-up counts.
LATEST_KINDS = ("plan_proposed", "follow_up_task_created", "reopen_limit_reached", "reopened")
COUNTED_KINDS = ("follow_up_task_created", "follow_up_completed")


def _timeline_facts(stages: tuple[str, ...], other_kind: str) -> Any:
    """Per case in `stages`, computed in one grouped pass over its events: the seq of its latest event of
    each LATEST_KINDS kind, how many COUNTED_KINDS events it has, and when its latest plan_proposed
    and `other_kind` events happened (and the plan's approver); NULL where it has no such event.

    Joined to the case rows rather than read by correlated subqueries per column: the queue's
    CASE and ORDER BY expressions repeat each column many times, and PostgreSQL ran every copy
    and JIT-compiled the plan their estimated cost added up to: seconds per page (bench/README.md).
    Grouped from the cases (not the events) and joined, not outer-joined, to them (the other open
    cases are read apart, _candidates): SQLite then reads each case's events by key rather than
    scanning the grouped rows once per open case."""
    kind, seq = TimelineEventRow.kind, TimelineEventRow.seq
    latest = [func.max(case((kind == name, seq))).label(f"{name}_seq") for name in LATEST_KINDS]
    counts = [func.sum(case((kind == name, 1), else_=0)).label(f"{name}_count") for name in COUNTED_KINDS]
    grouped = (
        select(CaseRow.number, *latest, *counts)
        .select_from(CaseRow)
        .outerjoin(
            TimelineEventRow,
            and_(
                TimelineEventRow.case_number == CaseRow.number,
                kind.in_(tuple(dict.fromkeys(LATEST_KINDS + COUNTED_KINDS))),
            ),
        )
        .where(CaseRow.stage.in_(stages))
        .group_by(CaseRow.number)
        .subquery("latest")
    )
    plan = aliased(TimelineEventRow, name="plan_event")
    other = aliased(TimelineEventRow, name="other_event")
    return (
        select(
            grouped,
            plan.at.label("plan_at"),
            plan.data[PLAN_APPROVER.approver].as_string().label("approver"),
            other.at.label("other_at"),
        )
        .select_from(grouped)
        .outerjoin(plan, and_(plan.case_number == grouped.c.number, plan.seq == grouped.c.plan_proposed_seq))
        .outerjoin(other, and_(other.case_number == grouped.c.number, other.seq == grouped.c[f"{other_kind}_seq"]))
        .subquery("facts")
    )


def _least(*values: Any) -> Any:
    """The earliest of nullable instants (LEAST skips NULLs on PostgreSQL but not on SQLite)."""
    earliest = values[0]
    for value in values[1:]:
        earliest = case(
            (earliest.is_(None), value), (value.is_(None), earliest), (value < earliest, value), else_=earliest
        )
    return type_coerce(earliest, UtcDateTime())


def _at(value: Any) -> Any:
    return type_coerce(value, UtcDateTime())


class QueueStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def _candidates(self, queue: Queue) -> Any:
        """Every open case with one column per reason it is in `queue` (the time since, or NULL)."""
        # The stages whose reasons read the timeline: awaiting approval, and a follow-up task
        # (supervisor) or the reopen limit reached (head).
        stages = ("plan_proposed", "executing" if queue is Queue.SUPERVISOR else "reopened")
        facts = _timeline_facts(
            stages, "follow_up_task_created" if queue is Queue.SUPERVISOR else "reopen_limit_reached"
        )
        f = facts.c
        # Plans proposed before the approver was recorded: the grade decides (DOMAIN.md).
        approver = func.coalesce(f.approver, case((CaseRow.priority.in_(("P1", "P2")), "head"), else_="supervisor"))
        awaiting = and_(CaseRow.stage == "plan_proposed", approver == queue.value)
        approval_since = case((awaiting, _at(f.plan_at)), else_=None)
        if queue is Queue.SUPERVISOR:
            escalated = CaseRow.escalation_level >= 1
            sla_from = func.coalesce(CaseRow.first_breached_at, CaseRow.updated_at)
            follow_up = and_(CaseRow.stage == "executing", f.follow_up_task_created_count > f.follow_up_completed_count)
            other_since = case((follow_up, _at(f.other_at)), else_=None)
        else:
            # Rows written before the rung was recorded: level 2 is the head on the default ladder.
            escalated = or_(
                CaseRow.escalated_to == Queue.HEAD.value,
                and_(CaseRow.escalated_to.is_(None), CaseRow.escalation_level >= 2),
            )
            sla_from = func.coalesce(CaseRow.escalated_at, CaseRow.updated_at)
            limit_reached = f.reopen_limit_reached_seq
            waiting_for_head = and_(
                CaseRow.stage == "reopened", limit_reached.is_not(None), limit_reached > f.reopened_seq
            )
            other_since = case((waiting_for_head, _at(f.other_at)), else_=None)
        sla_since = case((escalated, _at(sla_from)), else_=None)
        rank = case(
            *((CaseRow.priority == name, literal(value)) for name, value in PRIORITY_RANK.items()),
            else_=literal(UNGRADED),
        )
        glance = (
            *CaseGlance.columns(),
            CaseRow.escalated_to,
            CaseRow.escalations,
            CaseRow.missed_deadline,
            rank.label("rank"),
            _at(sla_since).label("sla_since"),
        )
        reading_events = select(
            *glance, _at(approval_since).label("approval_since"), _at(other_since).label("other_since")
        ).join(facts, f.number == CaseRow.number)
        # In the other open stages no reason reads the timeline: only a missed deadline queues them.
        nothing = _at(null())
        others = select(*glance, nothing.label("approval_since"), nothing.label("other_since")).where(
            CaseRow.stage.not_in(FINISHED_STAGES), CaseRow.stage.not_in(stages)
        )
        inner = union_all(reading_events, others).subquery("reasons")
        c = inner.c
        since = _least(c.sla_since, c.approval_since, c.other_since)
        return (
            select(inner, since.label("since"))
            .where(or_(c.sla_since.is_not(None), c.approval_since.is_not(None), c.other_since.is_not(None)))
            .subquery("queued")
        )

    async def queue(
        self, queue: Queue, *, limit: int, after: Cursor | None = None, department: str | None = None
    ) -> tuple[list[QueuedCase], int, Cursor | None]:
        """One page of `queue`, most urgent first; the total queued; the cursor of the next page."""
        queued = self._candidates(queue)
        c = queued.c
        query = select(queued)
        if department is not None:
            query = query.where(c.department == department)
        counted = select(func.count()).select_from(query.subquery())
        if after is not None:
            query = query.where(
                or_(
                    c.rank > after.rank,
                    and_(c.rank == after.rank, c.since > after.since),
                    and_(c.rank == after.rank, c.since == after.since, c.number > after.number),
                )
            )
        query = query.order_by(c.rank, c.since, c.number).limit(limit + 1)
        async with self._sessions() as session:
            total = (await session.execute(counted)).scalar_one()
            rows = list(await session.execute(query))
        items = [_queued(row, queue) for row in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            cursor = Cursor(rank=last.rank, since=last.since, number=last.number)
        return items, total, cursor


def _queued(row: Any, queue: Queue) -> QueuedCase:
    reasons: list[tuple[QueueReason, datetime, dict[str, Any]]] = []
    if row.sla_since is not None:
        shown = [
            e for e in row.escalations or []
            if queue is Queue.SUPERVISOR or e.get("rung") == queue.value
        ]  # fmt: skip
        for escalation in shown:
            since = escalation.get("breached_at") if queue is Queue.SUPERVISOR else escalation.get("escalated_at")
            reasons.append(
                (QueueReason.SLA_ESCALATED, datetime.fromisoformat(since) if since else row.sla_since, escalation)
            )
        if not shown:  # recorded before the rungs were: the level alone
            reasons.append((QueueReason.SLA_ESCALATED, row.sla_since, {"level": row.escalation_level}))
    if row.approval_since is not None:
        reasons.append((QueueReason.AWAITING_APPROVAL, row.approval_since, {}))
    if row.other_since is not None:
        other = QueueReason.FOLLOW_UP_TASK if queue is Queue.SUPERVISOR else QueueReason.REOPEN_LIMIT
        reasons.append((other, row.other_since, {}))
    return QueuedCase(
        **CaseGlance.read(row),
        escalated_to=row.escalated_to,
        missed_deadline=row.missed_deadline,
        since=row.since,
        reasons=reasons,
    )
