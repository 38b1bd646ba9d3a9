"""What the operators' gauges count, read from the record in a few grouped queries.

Each query is served by an index: cases by `ix_cases_stage` (only the open stages are read,
never the growing archive), the outbox by `ix_outbox_pending` (status, id). The API's
/metrics asks at most once per `METRICS_CACHE_SECONDS` (api/metrics.py), not per scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.case import Stage
from store.models import CaseRow, OutboxRow

# A case in one of these stages is done with (closed waits only for the fix check; archived and
# withdrawn for nothing): the open cases are every other stage.
DONE_STAGES = frozenset({Stage.CLOSED, Stage.ARCHIVED, Stage.WITHDRAWN})
OPEN_STAGES = tuple(sorted(s.value for s in Stage if s not in DONE_STAGES))
# pending: waiting for its next attempt; sending: claimed by a dispatcher right now.
BACKLOG_STATUSES = ("pending", "sending")


@dataclass
class Gauges:
    open_cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (stage, sla_state) -> cases
    approvals_waiting: dict[str, int] = field(default_factory=dict)  # grade (the plan's priority) -> cases
    outbox: dict[str, int] = field(default_factory=dict)  # status -> rows (pending, sending, failed)
    oldest_pending_age_seconds: float = 0.0  # 0 when nothing waits


async def read_gauges(sessions: async_sessionmaker[AsyncSession], now: datetime | None = None) -> Gauges:
    now = now or datetime.now(UTC)
    gauges = Gauges()
    async with sessions() as session:
        rows = await session.execute(
            select(CaseRow.stage, CaseRow.sla_state, CaseRow.priority, func.count())
            .where(CaseRow.stage.in_(OPEN_STAGES))
            .group_by(CaseRow.stage, CaseRow.sla_state, CaseRow.priority)
        )
        for stage, sla_state, priority, count in rows:
            key = (stage, sla_state)
            gauges.open_cases[key] = gauges.open_cases.get(key, 0) + count
            if stage == Stage.PLAN_PROPOSED.value:
                grade = priority or "none"
                gauges.approvals_waiting[grade] = gauges.approvals_waiting.get(grade, 0) + count
        statuses = await session.execute(
            select(OutboxRow.status, func.count())
            .where(OutboxRow.status.in_((*BACKLOG_STATUSES, "failed")))
            .group_by(OutboxRow.status)
        )
        gauges.outbox = {status: count for status, count in statuses}
        oldest = await session.scalar(
            select(func.min(OutboxRow.created_at)).where(OutboxRow.status.in_(BACKLOG_STATUSES))
        )
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite hands back naive UTC
            oldest = oldest.replace(tzinfo=UTC)
        gauges.oldest_pending_age_seconds = max(0.0, (now - oldest).total_seconds())
    return gauges
