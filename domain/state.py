"""A case's live state, as the workflow holds it and a query returns it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.case import (
    Actor,
    CaseIntake,
    Category,
    Department,
    Feedback,
    LedgerReceipt,
    Outcome,
    Priority,
    ProposedPlan,
    Stage,
    TriageSuggestion,
)
from domain.sla import ClockName, SlaClock, SlaPolicy, SlaState, case_sla_state, next_due


class CaseStart(BaseModel):
    """The workflow's input. `state` is set only when the case continues as new."""

    number: str
    intake: CaseIntake
    received_at: datetime
    received_by: Actor
    policy: SlaPolicy = Field(default_factory=SlaPolicy)
    state: CaseState | None = None


class CaseState(BaseModel):
    number: str
    intake: CaseIntake
    policy: SlaPolicy
    stage: Stage = Stage.RECEIVED
    received_at: datetime
    updated_at: datetime
    cycle_started_at: datetime  # receipt, or the last reopen: resolution is due from here
    seq: int = 0  # number of the last timeline event
    suggestion: TriageSuggestion | None = None
    categories: list[Category] = Field(default_factory=list)
    priority: Priority | None = None
    department: Department | None = None
    assignee: str | None = None
    open_question: str | None = None
    plan: ProposedPlan | None = None
    last_rejection: str | None = None
    receipt: LedgerReceipt | None = None
    feedback: list[Feedback] = Field(default_factory=list)
    reopen_count: int = 0
    escalation_level: int = 0
    clocks: dict[ClockName, SlaClock] = Field(default_factory=dict)
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    waiting_for: str = "triage by an agent"

    @property
    def next_deadline(self) -> datetime | None:
        clock = next_due(self.clocks)
        return clock.due_at if clock else None

    @property
    def sla_state(self) -> SlaState:
        return case_sla_state(self.clocks)


CaseStart.model_rebuild()
