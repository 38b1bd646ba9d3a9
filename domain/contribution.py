"""Multi-department cases (DOMAIN.md step 3): the after-sales head names a lead department,
and each assisting department contributes in parallel, by its own deadline.

Pure code. A contribution is a task of the case: the case workflow holds its deadline
beside the SLA clocks (one durable timer for the whole case), records every step on the
case's timeline, and refuses a plan while a contribution is still outstanding, unless the
lead waives it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from domain.calendar import BusinessCalendar
from domain.case import Department, Priority
from domain.sla import Target, business_hours, calendar_hours
from domain.text import OptionalText, Text


class ContributionStatus(StrEnum):
    PENDING = "pending"  # asked, its deadline not yet passed
    OVERDUE = "overdue"  # its deadline passed: the department's supervisor was told; still accepted (late)
    RECEIVED = "received"
    WAIVED = "waived"  # the lead decided to go on without it


OUTSTANDING = frozenset({ContributionStatus.PENDING, ContributionStatus.OVERDUE})


def default_contribution_targets() -> dict[Priority, Target]:
    # A contribution must leave the lead time to plan within the plan deadline: P1 runs
    # around the clock (8 h of a 24 h plan budget); P2 one working day, P3 and P4 two.
    return {
        Priority.P1: calendar_hours(8),
        Priority.P2: business_hours(9),
        Priority.P3: business_hours(2 * 9),
        Priority.P4: business_hours(2 * 9),
    }


class AssistRequest(BaseModel):
    """One assisting department and what it is asked for."""

    department: Department
    request: Text = Field(min_length=1, max_length=2000, description="What the department is asked to find out or do")
    due_in_hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 30,
        description="Overrides the deadline for the case's priority; counted like it (business hours for P2-P4)",
    )


class DepartmentsNaming(BaseModel):
    """The head names the lead department and the departments that assist it."""

    lead: Department
    assisting: list[AssistRequest] = Field(min_length=1, max_length=len(Department) - 1)
    reason: OptionalText = Field(default=None, max_length=2000)

    @field_validator("assisting")
    @classmethod
    def _distinct_and_not_the_lead(cls, assisting: list[AssistRequest], info: ValidationInfo) -> list[AssistRequest]:
        named = [a.department for a in assisting]
        if len(set(named)) != len(named):
            raise ValueError("each department is named once")
        if info.data.get("lead") in named:
            raise ValueError("the lead department does not assist itself")
        return assisting


class ContributionSubmission(BaseModel):
    """What an assisting department found."""

    summary: Text = Field(min_length=1, max_length=5000)
    findings: OptionalText = Field(default=None, max_length=10000)


class ContributionWaiver(BaseModel):
    """The lead goes on without a contribution."""

    reason: Text = Field(min_length=1, max_length=2000)


class Contribution(BaseModel):
    """An assisting department's task on a case, as the plan view shows it."""

    department: Department
    request: str
    requested_by: str
    requested_at: datetime
    due_at: datetime
    status: ContributionStatus = ContributionStatus.PENDING
    overdue_at: datetime | None = None
    received_at: datetime | None = None
    late: bool | None = None  # set once received
    summary: str | None = None
    findings: str | None = None
    contributed_by: str | None = None
    waived_at: datetime | None = None
    waived_by: str | None = None
    waiver_reason: str | None = None

    @property
    def outstanding(self) -> bool:
        return self.status in OUTSTANDING


def contribution_target(targets: dict[Priority, Target], priority: Priority | None, hours: float | None) -> Target:
    """The deadline a contribution gets: the case's priority's, or the head's override counted the same way."""
    base = targets.get(priority or Priority.P3) or default_contribution_targets()[Priority.P3]
    if hours is None:
        return base
    return Target(budget=timedelta(hours=hours), business=base.business)


def contribution_due(target: Target, calendar: BusinessCalendar, at: datetime) -> datetime:
    return target.add(calendar, at, target.budget)


def outstanding(contributions: list[Contribution]) -> list[Contribution]:
    return [c for c in contributions if c.outstanding]


def next_overdue(contributions: list[Contribution]) -> Contribution | None:
    """The pending contribution whose deadline comes first (an overdue one waits for no timer)."""
    pending = [c for c in contributions if c.status is ContributionStatus.PENDING]
    return min(pending, key=lambda c: c.due_at) if pending else None
