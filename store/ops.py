"""Operators' queries over the record: which unfinished cases look stuck.

Four reasons come from the database (the fifth, an activity failing again and
again, only Temporal knows: see services/stuck.py):

- breached: a deadline was missed and is still unmet (`sla_state = 'breached'`);
- awaiting_approval: a plan waits for a supervisor or the head (stage `plan_proposed`);
- in_stage_too_long: the case entered its current stage longer ago than a threshold;
- follow_up_task: a resolution failed on every route and waits for a person to carry it
  out (more `follow_up_task_created` than `follow_up_completed` events on the timeline);
- call_back_task: a customer who gave a low score (or whose fix did not hold) waits for a
  call-back (more `call_back_task_created` than `call_back_completed` events). The task
  outlives its cycle, so a closed or withdrawn case waiting for it is listed too (it does
  not archive before); an overdue one is `breached` as well (its `call_back` clock).
- contribution_overdue: an assisting department's contribution is past its deadline and
  the plan waits for it (multi-department cases; `case_departments`).

"Entered its current stage" is the first timeline event after the last event
recorded in another stage, not `updated_at`: warnings, notes and the customer
progress updates (at least every working day) touch `updated_at` without moving
the case. `awaiting_feedback` never counts as too long: its survey window closes
the case by itself (72 h).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.cases import CaseStore
from store.glance import CaseGlance
from store.models import CaseDepartmentRow, CaseRow, RecordFailureRow, TimelineEventRow, table_of
from store.rules import FINISHED_STAGES

# Stages where a long wait is expected and bounded by the case itself.
SELF_CLOSING_STAGES = ("awaiting_feedback",)


class StuckReason(StrEnum):
    BREACHED = "breached"
    AWAITING_APPROVAL = "awaiting_approval"
    IN_STAGE_TOO_LONG = "in_stage_too_long"
    ACTIVITY_FAILING = "activity_failing"
    FOLLOW_UP_TASK = "follow_up_task"
    CALL_BACK_TASK = "call_back_task"
    CONTRIBUTION_OVERDUE = "contribution_overdue"
    # The database refused a transition for good (a data error): the case waits for an engineer.
    RECORD_REFUSED = "record_refused"


@dataclass
class StuckCase(CaseGlance):
    in_stage_since: datetime  # when it entered its current stage
    last_activity_at: datetime  # updated_at: the last recorded event of any kind
    reasons: list[StuckReason] = field(default_factory=list)
    failing_activity: str | None = None  # "execute_resolution, attempt 5: <last failure>"


@dataclass(frozen=True)
class OpenCase:
    """A case the Temporal probe describes."""

    number: str
    stage: str
    updated_at: datetime


def _events(kind: str):  # noqa: ANN202 - a correlated scalar subquery
    """How many `kind` events the case's timeline holds."""
    return (
        select(func.count())
        .select_from(TimelineEventRow)
        .where(TimelineEventRow.case_number == CaseRow.number, TimelineEventRow.kind == kind)
        .scalar_subquery()
    )


def _stage_entered_at():  # noqa: ANN202 - a correlated scalar subquery
    event = table_of(TimelineEventRow).alias("event")
    earlier = table_of(TimelineEventRow).alias("earlier")
    left_other_stage = (
        select(func.coalesce(func.max(earlier.c.seq), 0))
        .where(earlier.c.case_number == CaseRow.number, earlier.c.stage != CaseRow.stage)
        .correlate(CaseRow)
        .scalar_subquery()
    )
    return (
        select(func.min(event.c.at))
        .where(event.c.case_number == CaseRow.number, event.c.seq > left_other_stage)
        .correlate(CaseRow)
        .scalar_subquery()
    )


class OpsStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @classmethod
    def beside(cls, store: CaseStore) -> OpsStore:
        """Read the same database as the case store (what the API holds)."""
        return cls(store._sessions)  # noqa: SLF001 - same package

    async def stuck_cases(
        self, *, now: datetime, in_stage_longer_than: timedelta, limit: int
    ) -> tuple[list[StuckCase], int]:
        """Unfinished cases stuck for a database reason, most urgent first, and how many there are.

        Breached cases come first (highest escalation first), then the rest, each by
        how long they have sat in their stage.
        """
        inner = self._open_cases(now, in_stage_longer_than)
        candidates = select(inner).where(
            or_(
                inner.c.sla_state == StuckReason.BREACHED.value,
                inner.c.stage == "plan_proposed",
                inner.c.too_long,
                inner.c.follow_up_open,
                inner.c.call_back_open,
                inner.c.contribution_overdue,
            )
        )
        async with self._sessions() as session:
            total = (await session.execute(select(func.count()).select_from(candidates.subquery()))).scalar_one()
            rows = await session.execute(
                candidates.order_by(
                    case((inner.c.sla_state == StuckReason.BREACHED.value, 0), else_=1),
                    inner.c.escalation_level.desc(),
                    inner.c.entered,
                    inner.c.number,
                ).limit(limit)
            )
            return [_stuck(row) for row in rows], total

    async def open_cases(
        self, numbers: list[str], *, now: datetime, in_stage_longer_than: timedelta
    ) -> list[StuckCase]:
        """These unfinished cases as rows of the finder, with whatever database reasons they have (maybe none)."""
        if not numbers:
            return []
        inner = self._open_cases(now, in_stage_longer_than)
        async with self._sessions() as session:
            rows = await session.execute(select(inner).where(inner.c.number.in_(numbers)).order_by(inner.c.entered))
            return [_stuck(row) for row in rows]

    @staticmethod
    def _open_cases(now: datetime, in_stage_longer_than: timedelta):  # noqa: ANN205 - a subquery
        entered = func.coalesce(_stage_entered_at(), CaseRow.updated_at)
        too_long = and_(
            CaseRow.stage.not_in(SELF_CLOSING_STAGES + FINISHED_STAGES), entered < now - in_stage_longer_than
        )
        follow_up_open = and_(
            CaseRow.stage == "executing", _events("follow_up_task_created") > _events("follow_up_completed")
        )
        call_back_open = _events("call_back_task_created") > _events("call_back_completed")
        contribution_overdue = (
            select(CaseDepartmentRow.case_number)
            .where(
                CaseDepartmentRow.case_number == CaseRow.number,
                CaseDepartmentRow.contribution_status == "overdue",
            )
            .exists()
        )
        return (
            select(
                *CaseGlance.columns(),
                CaseRow.updated_at,
                entered.label("entered"),
                too_long.label("too_long"),
                follow_up_open.label("follow_up_open"),
                call_back_open.label("call_back_open"),
                contribution_overdue.label("contribution_overdue"),
            )
            # Finished cases too while a call-back waits: they archive only once it is done.
            .where(or_(CaseRow.stage.not_in(FINISHED_STAGES), and_(CaseRow.stage != "archived", call_back_open)))
            .subquery()
        )

    async def record_failures(self, limit: int) -> list[RecordFailureRow]:
        """Transitions the database refused for good, the oldest first (one per case)."""
        async with self._sessions() as session:
            first = select(func.min(RecordFailureRow.id)).group_by(RecordFailureRow.case_number).scalar_subquery()
            rows = await session.execute(
                select(RecordFailureRow)
                .where(RecordFailureRow.id.in_(first))
                .order_by(RecordFailureRow.failed_at)
                .limit(limit)
            )
            return list(rows.scalars())

    async def probe_candidates(self, limit: int) -> list[OpenCase]:
        """The unfinished cases worth asking Temporal about, at most `limit` of each kind:
        those executing a resolution (the ledger activity may be failing), and those whose
        record changed least recently (an activity that keeps failing stops a case from
        recording anything)."""
        columns = select(CaseRow.number, CaseRow.stage, CaseRow.updated_at)
        executing = columns.where(CaseRow.stage == "executing").order_by(CaseRow.updated_at).limit(limit)
        quiet = (
            columns.where(CaseRow.stage.not_in(FINISHED_STAGES))
            .order_by(CaseRow.updated_at, CaseRow.number)
            .limit(limit)
        )
        found: dict[str, OpenCase] = {}
        async with self._sessions() as session:
            for query in (executing, quiet):
                for number, stage, updated_at in await session.execute(query):
                    found.setdefault(number, OpenCase(number, stage, updated_at))
        return list(found.values())


def _stuck(row: Any) -> StuckCase:
    reasons = []
    if row.sla_state == StuckReason.BREACHED.value:
        reasons.append(StuckReason.BREACHED)
    if row.stage == "plan_proposed":
        reasons.append(StuckReason.AWAITING_APPROVAL)
    if row.too_long:
        reasons.append(StuckReason.IN_STAGE_TOO_LONG)
    if row.follow_up_open:
        reasons.append(StuckReason.FOLLOW_UP_TASK)
    if row.call_back_open:
        reasons.append(StuckReason.CALL_BACK_TASK)
    if row.contribution_overdue:
        reasons.append(StuckReason.CONTRIBUTION_OVERDUE)
    return StuckCase(
        **CaseGlance.read(row),
        in_stage_since=row.entered,
        last_activity_at=row.updated_at,
        reasons=reasons,
    )
