"""The monthly quality report, computed in SQL from the case record.

Every query is plain SQLAlchemy Core over `cases`, `case_categories` and
`timeline_events` and runs unchanged on PostgreSQL and SQLite: JSON fields are
read with SQLAlchemy's portable JSON accessors, months are bounds computed in
Python (midnight of the 1st in the business timezone, as UTC instants), and
nothing uses a dialect-only function. Two things happen in Python on purpose:
durations (timestamp arithmetic differs between the two databases, so SQL
returns the instants and Python subtracts) and the final ordering of lists
(string collation differs between them). Definitions: `domain.report.DEFINITIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.lifecycle import EventKind
from domain.payloads import CLOCK_MISSED, FEEDBACK, TRIAGED
from domain.report import (
    FCR_DEFINITION,
    REPORTED_CLOCKS,
    CategoryCount,
    ClockOnTime,
    Count,
    Duration,
    FirstContactResolution,
    Month,
    MonthFigures,
    MonthlyReport,
    ProblemCount,
    Reopens,
    Satisfaction,
    build_report,
    share,
)
from store.models import CaseCategoryRow, CaseRow, TimelineEventRow

Event = TimelineEventRow

_CYCLE_STARTS = (EventKind.RECEIVED.value, EventKind.REOPENED.value)
_FEEDBACK = (EventKind.CLOSED.value, EventKind.REOPENED.value)
_PLAN_PRIORITIES = ("P1", "P2")  # DOMAIN.md: only grades I and II have a plan deadline
_RECURRING = 2  # a problem recurs when at least this many cases share it
_TOP = 3


def _within(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _cycle_start(event: Any) -> Any:
    """The seq of the receipt or reopen that opened the cycle `event` belongs to."""
    opener = aliased(Event)
    return func.coalesce(
        select(func.max(opener.seq))
        .where(opener.case_number == event.case_number, opener.kind.in_(_CYCLE_STARTS), opener.seq < event.seq)
        .correlate_except(opener)
        .scalar_subquery(),
        0,
    )


def _misses(event: Any, clock: str) -> ColumnElement[bool]:
    """`event` is an sla_breached event for `clock`."""
    return and_(event.kind == EventKind.SLA_BREACHED.value, event.data[CLOCK_MISSED.clock].as_string() == clock)


def _breached_earlier_in_cycle(event: Any, clock: str) -> ColumnElement[bool]:
    """An sla_breached event for `clock` in the same cycle as `event`, before it."""
    breach = aliased(Event)
    return exists().where(
        breach.case_number == event.case_number,
        _misses(breach, clock),
        breach.seq < event.seq,
        breach.seq > _cycle_start(event),
    )


def _first_in_cycle(
    picks: Callable[[Any, str], ColumnElement[bool]], clock: str, start: datetime, end: datetime
) -> Select[Any]:
    """How many events within [start, end) `picks` for `clock` came before any breach of `clock` in their cycle."""
    event = aliased(Event)
    return (
        select(func.count())
        .select_from(event)
        .where(_within(event.at, start, end), picks(event, clock), ~_breached_earlier_in_cycle(event, clock))
    )


def _meets(event: Any, clock: str) -> ColumnElement[bool]:
    """`event` is the one that met `clock` in its cycle (workflows/case/)."""
    if clock == "first_reply":
        # Only the first cycle has a first-reply clock: a reopened case is triaged again without one.
        reopen = aliased(Event)
        return and_(
            event.kind.in_([EventKind.TRIAGED.value, EventKind.FIRST_CONTACT_RESOLVED.value]),
            ~exists().where(
                reopen.case_number == event.case_number,
                reopen.kind == EventKind.REOPENED.value,
                reopen.seq < event.seq,
            ),
        )
    if clock == "respond":
        return event.kind == EventKind.ACCEPTED.value
    if clock == "plan":
        earlier = aliased(Event)
        triage = aliased(Event)
        cycle_priority = (
            select(triage.data[TRIAGED.priority].as_string())
            .where(
                triage.case_number == event.case_number, triage.kind == EventKind.TRIAGED.value, triage.seq < event.seq
            )
            .order_by(triage.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        return and_(
            event.kind == EventKind.PLAN_PROPOSED.value,
            # A plan proposed again after a rejection meets nothing: the clock was met by the first.
            ~exists().where(
                earlier.case_number == event.case_number,
                earlier.kind == EventKind.PLAN_PROPOSED.value,
                earlier.seq < event.seq,
                earlier.seq > _cycle_start(event),
            ),
            cycle_priority.in_(_PLAN_PRIORITIES),
        )
    if clock == "resolution":
        return event.kind == EventKind.RESOLUTION_EXECUTED.value
    raise ValueError(f"no meeting event for clock {clock}")


def _average_hours(pairs: list[tuple[datetime, datetime]]) -> Duration:
    if not pairs:
        return Duration(cases=0, average_hours=None)
    total = sum((end - start for start, end in pairs), timedelta(0))
    return Duration(cases=len(pairs), average_hours=total.total_seconds() / 3600 / len(pairs))


def _counts(rows: Any) -> list[Count]:
    found = [Count(key=key, count=count) for key, count in rows]
    return sorted(found, key=lambda c: (-c.count, c.key is None, c.key or ""))


class ReportStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def monthly(self, month: Month, zone: str = "Asia/Shanghai") -> MonthlyReport:
        async with self._sessions() as session:
            current = await self._figures(session, month, zone)
            previous = await self._figures(session, month.previous(), zone)
        return build_report(month, zone, current, previous)

    async def _figures(self, session: AsyncSession, month: Month, zone: str) -> MonthFigures:
        start, end = month.bounds(zone)
        first_day, last_day = month.days()
        received = _within(CaseRow.received_at, start, end)

        async def scalar(query: Any) -> Any:
            return (await session.execute(query)).scalar_one()

        async def rows(query: Any) -> list[Any]:
            return list((await session.execute(query)).all())

        cases_received = await scalar(select(func.count()).select_from(CaseRow).where(received))

        # Distribution by category, and the cases not triaged yet.
        by_category = await rows(
            select(CaseCategoryRow.category, func.count())
            .join(CaseRow, CaseRow.number == CaseCategoryRow.case_number)
            .where(received)
            .group_by(CaseCategoryRow.category)
        )
        categories = sorted(
            (CategoryCount(category=c, cases=n, share=share(n, cases_received)) for c, n in by_category),
            key=lambda c: (-c.cases, c.category),
        )
        uncategorized = await scalar(
            select(func.count())
            .select_from(CaseRow)
            .where(received, ~exists().where(CaseCategoryRow.case_number == CaseRow.number))
        )

        # Recurring problems: category x product, at least two cases; the top three.
        problems = await rows(
            select(CaseCategoryRow.category, CaseRow.sku, func.count())
            .join(CaseRow, CaseRow.number == CaseCategoryRow.case_number)
            .where(received)
            .group_by(CaseCategoryRow.category, CaseRow.sku)
            .having(func.count() >= _RECURRING)
        )
        top_problems = sorted(
            (ProblemCount(category=c, sku=s, cases=n) for c, s, n in problems),
            key=lambda p: (-p.cases, p.category, p.sku),
        )[:_TOP]

        # On-time rate per SLA clock: clocks met on time or first missed in the month.
        on_time = []
        for clock in REPORTED_CLOCKS:
            met = await scalar(_first_in_cycle(_meets, clock, start, end))
            missed = await scalar(_first_in_cycle(_misses, clock, start, end))
            on_time.append(
                ClockOnTime(
                    clock=clock, on_time=met, missed=missed, decided=met + missed, rate=share(met, met + missed)
                )
            )

        # Satisfaction: survey answers given in the month (a reopen after a failed fix check has no score).
        score = Event.data[FEEDBACK.score].as_integer()
        said = Event.data[FEEDBACK.satisfied].as_boolean()
        answers, score_sum, satisfied = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(score), 0),
                    func.coalesce(
                        func.sum(case((and_(score >= 4, or_(said.is_(None), said == true())), 1), else_=0)), 0
                    ),
                ).where(Event.kind.in_(_FEEDBACK), score.is_not(None), _within(Event.at, start, end))
            )
        ).one()
        satisfaction = Satisfaction(
            answers=answers,
            average_score=int(score_sum) / answers if answers else None,
            satisfied=int(satisfied),
            satisfied_share=share(int(satisfied), answers),
        )

        # Reopens: of the cases received in the month, those reopened at least once.
        reopened_cases = await scalar(
            select(func.count())
            .select_from(CaseRow)
            .where(
                received,
                exists().where(Event.case_number == CaseRow.number, Event.kind == EventKind.REOPENED.value),
            )
        )
        reopen_events = await scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.kind == EventKind.REOPENED.value, _within(Event.at, start, end))
        )

        # First-contact resolution: of the cases received in the month, those answered at receipt.
        first_contact = await scalar(
            select(func.count())
            .select_from(CaseRow)
            .where(
                received,
                exists().where(
                    Event.case_number == CaseRow.number, Event.kind == EventKind.FIRST_CONTACT_RESOLVED.value
                ),
            )
        )

        # Receipt to the first triage / first execution, for cases whose first one fell in the month.
        async def first(kind: EventKind) -> Duration:
            first_at = func.min(Event.at)
            pairs = await rows(
                select(CaseRow.received_at, first_at)
                .join(Event, Event.case_number == CaseRow.number)
                .where(Event.kind == kind.value)
                .group_by(CaseRow.number, CaseRow.received_at)
                .having(_within(first_at, start, end))
            )
            return _average_hours([(r, f) for r, f in pairs])

        first_reply = await first(EventKind.TRIAGED)
        resolution = await first(EventKind.RESOLUTION_EXECUTED)

        # Breaches in the month by department and by responsible role.
        breached = and_(Event.kind == EventKind.SLA_BREACHED.value, _within(Event.at, start, end))
        breaches = await scalar(select(func.count()).select_from(Event).where(breached))
        department = Event.data[CLOCK_MISSED.department].as_string()
        role = Event.data[CLOCK_MISSED.responsible_role].as_string()
        by_department = await rows(select(department, func.count()).where(breached).group_by(department))
        by_role = await rows(select(role, func.count()).where(breached).group_by(role))

        channels = await rows(select(CaseRow.channel, func.count()).where(received).group_by(CaseRow.channel))

        return MonthFigures(
            month=str(month),
            first_day=first_day,
            last_day=last_day,
            starts_at=start,
            ends_at=end,
            cases_received=cases_received,
            uncategorized=uncategorized,
            categories=categories,
            top_problems=top_problems,
            on_time=on_time,
            satisfaction=satisfaction,
            reopens=Reopens(
                cases_received=cases_received,
                reopened_cases=reopened_cases,
                rate=share(reopened_cases, cases_received),
                reopen_events=reopen_events,
            ),
            first_contact_resolution=FirstContactResolution(
                tracked=True,
                cases=first_contact,
                rate=share(first_contact, cases_received),
                note=FCR_DEFINITION,
            ),
            first_reply=first_reply,
            resolution=resolution,
            breaches=breaches,
            breaches_by_department=_counts(by_department),
            breaches_by_role=_counts(by_role),
            channels=_counts(channels),
        )
