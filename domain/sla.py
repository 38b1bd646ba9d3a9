"""SLA clocks, first form: a resolution deadline per priority and the survey window.

Pure code: the workflow pins a policy when the case starts and asks this
module when the next clock falls due. Calendar hours for now; the business
calendar arrives with the full SLA engine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.case import Priority


class ClockName(StrEnum):
    RESOLUTION = "resolution"
    SURVEY = "survey"


class ClockState(StrEnum):
    RUNNING = "running"
    BREACHED = "breached"  # past due and still unmet
    MET = "met"


class SlaState(StrEnum):
    """The case-level summary an operator filters on."""

    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"


class SlaPolicy(BaseModel):
    """Targets in calendar hours, pinned on a case when it starts."""

    version: str = "2026-11-calendar-hours"
    # DOMAIN.md "Grades and deadlines": resolve and tell the customer.
    # Working days are counted as calendar days until the business calendar lands.
    resolution_hours: dict[Priority, int] = Field(
        default_factory=lambda: {Priority.P1: 72, Priority.P2: 120, Priority.P3: 72, Priority.P4: 120}
    )
    survey_window_hours: int = Field(default=72, gt=0)


class SlaClock(BaseModel):
    name: ClockName
    started_at: datetime
    due_at: datetime
    state: ClockState = ClockState.RUNNING
    met_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def is_due_pending(self) -> bool:
        """Still waiting for its deadline to fire."""
        return self.state is ClockState.RUNNING

    def meet(self, at: datetime) -> None:
        if self.state is not ClockState.MET:
            self.state = ClockState.MET
            self.met_at = at

    def breach(self, at: datetime) -> None:
        self.state = ClockState.BREACHED
        self.breached_at = at

    def summary(self, priority: Priority | None) -> str:
        label = f"SLA {self.name.value}" + (f" {priority.value}" if priority else "")
        return f"{label} due {self.due_at.isoformat(timespec='minutes')}"


def resolution_clock(policy: SlaPolicy, priority: Priority, started_at: datetime) -> SlaClock:
    return SlaClock(
        name=ClockName.RESOLUTION,
        started_at=started_at,
        due_at=started_at + timedelta(hours=policy.resolution_hours[priority]),
    )


def survey_clock(policy: SlaPolicy, started_at: datetime) -> SlaClock:
    return SlaClock(
        name=ClockName.SURVEY,
        started_at=started_at,
        due_at=started_at + timedelta(hours=policy.survey_window_hours),
    )


def next_due(clocks: dict[ClockName, SlaClock]) -> SlaClock | None:
    """The running clock that falls due first: the one durable timer the case holds."""
    pending = [clock for clock in clocks.values() if clock.is_due_pending]
    return min(pending, key=lambda clock: clock.due_at, default=None)


def case_sla_state(clocks: dict[ClockName, SlaClock]) -> SlaState:
    if any(clock.state is ClockState.BREACHED for clock in clocks.values()):
        return SlaState.BREACHED
    return SlaState.ON_TRACK
