"""What a case waits for next: the one item its single durable timer is set to.

SLA clocks (warnings, breaches, escalation rungs), the progress update to the customer, a fix
check to ask, a contribution due from an assisting department and an execution's wait (a
return step, an exchange offer's reminder or default): the earliest wins. Pure, so the
workflow's deadline loop (workflows/case/deadlines.py) only decides when to ask.
"""

from __future__ import annotations

from datetime import timedelta

from domain.contribution import next_overdue
from domain.follow_up import FixCheckStatus
from domain.sla import DueItem, DueKind, next_due
from domain.state import CaseState


def next_item(case: CaseState, *, contributions: bool) -> DueItem | None:
    """The earliest item due; contributions count only when `contributions` (the workflow asks
    its multi-department patch, and only for an open case that has some)."""
    item = next_due(case.clocks, case.policy, case.calendar)
    fix = case.fix_check
    if fix is not None and fix.status is FixCheckStatus.SCHEDULED and (item is None or fix.ask_at < item.at):
        item = DueItem(kind=DueKind.FIX_CHECK, clock=None, at=fix.ask_at)
    update_at = case.next_update_at
    if update_at is not None and (item is None or update_at < item.at):
        item = DueItem(kind=DueKind.UPDATE, clock=None, at=update_at)
    if contributions:
        due = next_overdue(case.contributions)
        if due is not None and (item is None or due.due_at < item.at):
            item = DueItem(kind=DueKind.CONTRIBUTION, clock=None, at=due.due_at, department=due.department.value)
    waiting = execution_due(case)
    if waiting is not None and (item is None or waiting.at < item.at):
        return waiting
    return item


def execution_due(case: CaseState) -> DueItem | None:
    """An execution's wait with a deadline: the return step due from logistics or the
    warehouse, or the reminder or default of an unanswered exchange offer."""
    offer = case.exchange_offer
    if offer is not None and case.exchange_choice is None:
        if offer.reminded_at is None and offer.remind_at is not None:
            return DueItem(kind=DueKind.EXCHANGE_REMINDER, clock=None, at=offer.remind_at)
        if offer.default_at is not None:
            return DueItem(kind=DueKind.EXCHANGE_DEFAULT, clock=None, at=offer.default_at)
    progress = case.returns
    if progress is not None and progress.leg is not None and progress.due_at is not None and not progress.overdue:
        return DueItem(kind=DueKind.RETURN_STEP, clock=None, at=progress.due_at)
    return None


# Temporal starts a timer when the workflow task that set it completes, while the case measures
# the timer's length from the task's own clock (its start, or the end of its last local activity).
# On a busy worker the task completes seconds after that clock and the item fires as late: 1.3–2.7 s
# with 10,000 cases opened in a burst (bench/README.md, "Deadline lag over a working day"). So a
# long wait wakes a minute ahead and the last minute is set by the task that wakes, which has
# nothing else to do and completes within milliseconds of its clock.
WAKE_EARLY_BY = timedelta(minutes=1)


def first_sleep(remaining: timedelta) -> timedelta:
    """How long the case's one timer sleeps toward an item `remaining` away: a minute short of it
    when the wait is long enough for that to matter (over two minutes), else all of it."""
    return remaining - WAKE_EARLY_BY if remaining > 2 * WAKE_EARLY_BY else remaining
