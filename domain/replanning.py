"""Whether a new SLA policy or calendar version changes a case's deadlines.

Only the open cases a change affects are re-planned; this decides which.
"""

from __future__ import annotations

from datetime import date

from domain.calendar import BusinessCalendar
from domain.case import Channel, CustomerTier, Priority
from domain.sla import ClockName, SlaPolicy


def policy_affects(
    old: SlaPolicy, new: SlaPolicy, priority: Priority | None, tier: CustomerTier, channel: Channel
) -> bool:
    """True when any target, cadence or escalation rule that applies to this case differs."""
    effective = priority or Priority.P3  # untriaged cases run on a normal case's first reply
    for clock in ClockName:
        if old.target(clock, effective, tier, channel) != new.target(clock, effective, tier, channel):
            return True
    return (
        old.update_cadence(priority, tier) != new.update_cadence(priority, tier)
        or old.warn_at != new.warn_at
        or old.ladder != new.ladder
        or old.climb_after != new.climb_after
    )


def calendar_affects(old: BusinessCalendar, new: BusinessCalendar, from_day: date) -> bool:
    """True when the calendars differ on any day from `from_day` on (deadlines lie ahead)."""
    if (old.timezone, old.hours, old.adjusted_day_hours) != (new.timezone, new.hours, new.adjusted_day_hours):
        return True
    changed = {
        day
        for day in set(old.holidays) | set(new.holidays) | set(old.extra_working_days) | set(new.extra_working_days)
        if old.windows_for(day) != new.windows_for(day)
    }
    return any(day >= from_day for day in changed)
