"""Instants a test needs, computed from now: no test depends on the day the suite runs.

A test that wants "a Friday 17:30 before a holiday" asks `friday_before_holiday(now,
calendar)`: the next Friday whose following ten days the published calendar leaves
ordinary (weekdays worked, weekends off, no official holiday or moved working day), so
that a calendar file declaring the Monday a company holiday gives the same arithmetic
on any day of any year.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.calendar import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY = 4
TUESDAY = 1
# Friday to the Monday after next: every day a P2 case's deadlines and warnings touch.
ORDINARY_SPAN_DAYS = 11
# A workflow started with a start delay needs the instant comfortably in the future.
MARGIN = timedelta(hours=1)


def is_ordinary(calendar: BusinessCalendar, day: date) -> bool:
    """Worked on weekdays and off at weekends, as the plain week says."""
    return (
        day not in calendar.holidays
        and day not in calendar.extra_working_days
        and (calendar.is_working_day(day) == (day.weekday() < 5))
    )


def _next_weekday_at(now: datetime, weekday: int, at: time, zone: ZoneInfo) -> datetime:
    local_now = now.astimezone(zone)
    day = local_now.date() + timedelta(days=(weekday - local_now.weekday()) % 7)
    candidate = datetime.combine(day, at, tzinfo=zone)
    while candidate < now + MARGIN:
        candidate += timedelta(days=7)
    return candidate


def friday_before_holiday(now: datetime, calendar: BusinessCalendar, zone: ZoneInfo = SHANGHAI) -> datetime:
    """The first Friday 17:30 at least an hour after `now` whose next eleven days are ordinary
    on `calendar`; the caller declares the following Monday (`+ 3 days`) a holiday."""
    friday = _next_weekday_at(now, FRIDAY, time(17, 30), zone)
    for _ in range(60):  # the longest stretch of official days in China is a few weeks
        if all(is_ordinary(calendar, friday.date() + timedelta(days=d)) for d in range(ORDINARY_SPAN_DAYS)):
            return friday
        friday += timedelta(days=7)
    raise AssertionError(f"no ordinary fortnight within 60 weeks of {now}")


def ordinary_tuesday_morning(now: datetime, zone: ZoneInfo = SHANGHAI) -> datetime:
    """The next Tuesday 10:00 at least an hour after `now`: with a calendar of plain weekly
    hours, a working day from then ends well inside the week."""
    return _next_weekday_at(now, TUESDAY, time(10), zone)


async def start_case_at(  # noqa: ANN201
    env,
    database,
    task_queue: str,
    received: datetime,
    calendar: BusinessCalendar,
    body: dict | None = None,  # noqa: ANN001
):
    """A case received at `received` (in the future) on `calendar`, with intake `body` (by
    default tests.support.people's): its workflow starts with a start delay and the test server skips
    to it. Returns its number and workflow handle once the case is recorded."""
    from domain.case import Actor, CaseIntake, Role
    from domain.state import CaseStart
    from tests.support.people import intake
    from tests.support.waiting import wait_for_event
    from workflows.case import CaseWorkflow

    number = await database.store.next_case_number(received.astimezone(SHANGHAI).strftime("%Y%m%d"))
    start = CaseStart(
        number=number,
        intake=CaseIntake.model_validate(body if body is not None else intake()),
        received_at=received,
        received_by=Actor(id="agent-li", role=Role.AGENT),
        calendar=calendar,
    )
    delay = received - datetime.now(received.tzinfo)
    handle = await env.client.start_workflow(
        CaseWorkflow.run, start, id=number, task_queue=task_queue, start_delay=delay
    )
    await env.fast_forward(handle, delay)
    await wait_for_event(database, number, "received")
    return number, handle
