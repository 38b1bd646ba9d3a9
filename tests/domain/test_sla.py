"""The pure SLA module: targets and overrides, pauses, warnings, the ladder, what is due next."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import BusinessCalendar
from domain.case import Channel, CustomerTier, Priority
from domain.due import first_sleep
from domain.replanning import calendar_affects, policy_affects
from domain.sla import (
    ClockName,
    ClockState,
    DueKind,
    SlaClock,
    SlaPolicy,
    SlaState,
    Target,
    case_sla_state,
    escalation_level,
    next_deadline,
    next_due,
    sla_view,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar()  # Monday-Friday 09:00-18:00 Shanghai, no holidays
POLICY = SlaPolicy()
MONDAY_10 = datetime(2027, 3, 1, 10, 0, tzinfo=SHANGHAI)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=SHANGHAI)


def test_targets_follow_the_table_and_the_most_specific_override_wins() -> None:
    def target(clock: ClockName, priority: Priority, tier=CustomerTier.NORMAL, channel=Channel.CHAT) -> Target | None:
        return POLICY.target(clock, priority, tier, channel)

    assert target(ClockName.RESPOND, Priority.P1) == Target(budget=timedelta(hours=2), business=False)
    assert target(ClockName.RESPOND, Priority.P3) == Target(budget=timedelta(hours=8))
    assert target(ClockName.RESOLUTION, Priority.P2) == Target(budget=timedelta(hours=45))
    assert target(ClockName.PLAN, Priority.P3) is None  # no plan deadline for grade III and IV
    assert target(ClockName.FIRST_REPLY, Priority.P3, CustomerTier.VIP, Channel.PHONE).budget == timedelta(minutes=5)
    assert target(ClockName.FIRST_REPLY, Priority.P3, CustomerTier.VIP, Channel.CHAT).budget == timedelta(minutes=30)
    assert target(ClockName.FIRST_REPLY, Priority.P3, channel=Channel.EMAIL).budget == timedelta(hours=24)
    assert POLICY.update_cadence(Priority.P1, CustomerTier.NORMAL).budget == timedelta(hours=12)
    assert POLICY.update_cadence(Priority.P4, CustomerTier.VIP).budget == timedelta(hours=12)
    assert POLICY.update_cadence(Priority.P4, CustomerTier.NORMAL) == Target(budget=timedelta(hours=9))


def test_a_business_clock_counts_working_hours_only() -> None:
    clock = SlaClock.start(ClockName.RESPOND, Target(budget=timedelta(hours=8)), at(5, 17), CALENDAR)  # Friday 17:00
    assert clock.due_at == at(8, 16)  # 1 h on Friday, 7 h on Monday


def test_pause_and_resume_move_the_deadline_by_the_paused_business_time() -> None:
    clock = SlaClock.start(ClockName.RESOLUTION, Target(budget=timedelta(hours=27)), MONDAY_10, CALENDAR)
    assert clock.due_at == at(4, 10)
    assert clock.pause(at(1, 12), CALENDAR)
    assert clock.state is ClockState.PAUSED
    assert clock.left(at(2, 12), CALENDAR) == timedelta(hours=25)  # paused time is not counted
    assert clock.resume(at(2, 15), CALENDAR)  # paused 12:00 Monday -> 15:00 Tuesday = 12 working hours
    assert clock.due_at == at(5, 13)
    assert CALENDAR.between(at(4, 10), clock.due_at) == CALENDAR.between(at(1, 12), at(2, 15))
    assert not clock.resume(at(2, 16), CALENDAR)  # resuming twice does nothing


def test_warnings_then_breach_then_the_ladder_to_the_top() -> None:
    clock = SlaClock.start(ClockName.RESPOND, Target(budget=timedelta(hours=8)), MONDAY_10, CALENDAR)
    clocks = {ClockName.RESPOND: clock}
    first = next_due(clocks, POLICY, CALENDAR)
    assert (first.kind, first.at, first.fraction) == (DueKind.WARNING, at(1, 16), 0.75)  # 6 of 8 working hours
    clock.warnings_sent = 1
    second = next_due(clocks, POLICY, CALENDAR)
    assert (second.kind, second.at) == (DueKind.WARNING, at(1, 17, 12))
    clock.warnings_sent = 2
    assert case_sla_state(clocks) is SlaState.WARNING
    breach = next_due(clocks, POLICY, CALENDAR)
    assert (breach.kind, breach.at) == (DueKind.BREACH, at(1, 18))  # runs out exactly at closing time

    clock.breach(breach.at, POLICY, CALENDAR)
    assert (case_sla_state(clocks), escalation_level(clocks)) == (SlaState.BREACHED, 1)
    climb = next_due(clocks, POLICY, CALENDAR)
    assert (climb.kind, climb.at) == (DueKind.CLIMB, at(1, 22))  # 4 calendar hours later
    clock.climb(climb.at, POLICY, CALENDAR)
    assert escalation_level(clocks) == 2
    assert next_due(clocks, POLICY, CALENDAR) is None  # the head is the top rung

    clock.meet(at(2, 16))
    assert (case_sla_state(clocks), escalation_level(clocks)) == (SlaState.ON_TRACK, 0)
    assert clock.breached_at == at(1, 18)  # the record of the miss stays


def test_a_breached_clock_does_not_pause() -> None:
    clock = SlaClock.start(ClockName.RESPOND, Target(budget=timedelta(hours=1)), MONDAY_10, CALENDAR)
    clock.breach(at(1, 11), POLICY, CALENDAR)
    assert not clock.pause(at(1, 12), CALENDAR)
    assert clock.state is ClockState.BREACHED


def test_retarget_keeps_the_time_already_used() -> None:
    clock = SlaClock.start(ClockName.RESOLUTION, Target(budget=timedelta(hours=27)), MONDAY_10, CALENDAR)
    clock.retarget(Target(budget=timedelta(hours=63)), at(2, 10), CALENDAR)  # extended to 7 working days
    assert clock.used == timedelta(hours=9)
    assert CALENDAR.between(MONDAY_10, clock.due_at) == timedelta(hours=63)


def test_the_earliest_item_of_all_clocks_is_next() -> None:
    respond = SlaClock.start(ClockName.RESPOND, Target(budget=timedelta(hours=8)), MONDAY_10, CALENDAR)
    first_reply = SlaClock.start(
        ClockName.FIRST_REPLY, Target(budget=timedelta(minutes=30), business=False), MONDAY_10, CALENDAR
    )
    item = next_due({ClockName.RESPOND: respond, ClockName.FIRST_REPLY: first_reply}, POLICY, CALENDAR)
    assert (item.clock, item.kind) == (ClockName.FIRST_REPLY, DueKind.WARNING)
    assert item.at == MONDAY_10 + timedelta(minutes=22, seconds=30)


def test_extension_limit_for_a_complex_p3_case() -> None:
    current = POLICY.target(ClockName.RESOLUTION, Priority.P3, CustomerTier.NORMAL, Channel.CHAT)
    assert POLICY.max_budget(ClockName.RESOLUTION, Priority.P3, current).budget == timedelta(hours=63)
    assert POLICY.max_budget(ClockName.RESPOND, Priority.P2, Target(budget=timedelta(hours=4))).budget == timedelta(
        hours=8
    )


@pytest.mark.parametrize(
    ("priority", "tier", "channel", "affected"),
    [
        (Priority.P2, CustomerTier.NORMAL, Channel.CHAT, True),
        (Priority.P4, CustomerTier.NORMAL, Channel.CHAT, False),
        (None, CustomerTier.NORMAL, Channel.CHAT, False),
    ],
)
def test_a_policy_change_affects_only_cases_whose_targets_change(
    priority: Priority | None, tier: CustomerTier, channel: Channel, affected: bool
) -> None:
    new = SlaPolicy(version="faster-p2")
    new.targets[Priority.P2][ClockName.RESOLUTION] = Target(budget=timedelta(hours=27))
    assert policy_affects(POLICY, new, priority, tier, channel) is affected


def test_a_calendar_change_affects_cases_only_from_the_changed_day_on() -> None:
    new = BusinessCalendar(version="with-holiday", holidays={at(10, 0).date(): "Company day"})
    assert calendar_affects(CALENDAR, new, at(1, 0).date())
    assert not calendar_affects(CALENDAR, new, at(11, 0).date())


def test_follow_up_clocks_one_working_day_and_a_three_day_answer_window() -> None:
    for priority in Priority:
        for clock, hours in ((ClockName.RESULT, 9), (ClockName.CALL_BACK, 9), (ClockName.FIX_CHECK, 27)):
            assert POLICY.target(clock, priority, CustomerTier.NORMAL, Channel.PHONE) == Target(
                budget=timedelta(hours=hours), business=True
            ), (clock, priority)
    # Executed on a Friday afternoon: the result is due Monday at the same working hour.
    result = SlaClock.start(ClockName.RESULT, POLICY.targets[Priority.P1][ClockName.RESULT], at(5, 16), CALENDAR)
    assert result.due_at == at(8, 16)


def test_a_call_back_does_not_wait_for_the_customer_and_the_fix_check_window_is_no_deadline() -> None:
    call_back = SlaClock.start(ClockName.CALL_BACK, Target(budget=timedelta(hours=9)), MONDAY_10, CALENDAR)
    assert call_back.pause(at(1, 11), CALENDAR) is False
    assert call_back.state is ClockState.RUNNING
    window = SlaClock.start(ClockName.FIX_CHECK, Target(budget=timedelta(hours=27)), MONDAY_10, CALENDAR)
    # The customer's window: no warnings, its expiry is a step of the case, not a missed deadline.
    item = window.next_item(POLICY, CALENDAR)
    assert item is not None and (item.kind, item.at) == (DueKind.BREACH, at(4, 10))
    clocks = {ClockName.FIX_CHECK: window}
    assert next_deadline(clocks) is None
    assert case_sla_state(clocks) is SlaState.ON_TRACK


def test_the_next_deadline_is_the_earliest_still_running_and_a_missed_one_is_the_breach() -> None:
    # Issue 12: a breached case shows the deadline it can still meet, not the one it missed.
    respond = SlaClock.start(ClockName.RESPOND, Target(budget=timedelta(hours=4), business=True), MONDAY_10, CALENDAR)
    approval = SlaClock.start(ClockName.APPROVAL, Target(budget=timedelta(hours=9), business=True), MONDAY_10, CALENDAR)
    clocks = {ClockName.RESPOND: respond, ClockName.APPROVAL: approval}
    assert next_deadline(clocks) == respond.due_at == at(1, 14)
    respond.breach(at(1, 14), POLICY, CALENDAR)
    assert next_deadline(clocks) == approval.due_at == at(2, 10)
    assert case_sla_state(clocks) is SlaState.BREACHED
    approval.pause(at(1, 15), CALENDAR)  # waiting on the customer: nothing runs
    assert next_deadline(clocks) is None
    assert case_sla_state(clocks) is SlaState.BREACHED


def test_the_sla_view_gives_the_platform_clock_the_platforms_instant_not_an_hour_count() -> None:
    # A platform clock armed at 10:00:07 to a 10:00 deadline the next day: its budget is 23.998 h.
    started = at(1, 10, 0) + timedelta(seconds=7)
    deadline = at(2, 10, 0)
    clocks = {
        ClockName.PLATFORM: SlaClock.start(ClockName.PLATFORM, Target(budget=deadline - started, business=False), started, CALENDAR),
        ClockName.RESPOND: SlaClock.start(ClockName.RESPOND, Target(budget=timedelta(hours=2), business=False), started, CALENDAR),
    }  # fmt: skip
    views = {v.name: v for v in sla_view(clocks, POLICY, CALENDAR, started).clocks}
    platform = views[ClockName.PLATFORM]
    assert (
        platform.target
        == "由平台设定，截至 2027-03-02 10:00 / set by the platform, due 2027-03-02 10:00 (Asia/Shanghai)"
    )
    assert platform.due_at == deadline and " h " not in platform.target
    assert views[ClockName.RESPOND].target == "2 h calendar time"  # our own clocks keep their budget


def test_a_long_wait_sleeps_to_a_minute_before_its_item_a_short_one_to_the_item() -> None:
    assert first_sleep(timedelta(minutes=30)) == timedelta(minutes=29)
    assert first_sleep(timedelta(minutes=2, seconds=1)) == timedelta(minutes=1, seconds=1)
    # Two minutes or less: waking ahead would buy nothing but a second task.
    assert first_sleep(timedelta(minutes=2)) == timedelta(minutes=2)
    assert first_sleep(timedelta(seconds=30)) == timedelta(seconds=30)
