"""A case's live state, as the workflow holds it and a query returns it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from domain.calendar import BusinessCalendar
from domain.case import (
    Actor,
    CaseIntake,
    Category,
    Department,
    ExchangeChoice,
    ExchangeOffer,
    Feedback,
    FollowUpTask,
    LedgerReceipt,
    Outcome,
    Priority,
    ProposedPlan,
    Stage,
    TriageSuggestion,
)
from domain.contribution import Contribution
from domain.follow_up import CallBackTask, FixCheck
from domain.handling import HandlingRules
from domain.marketplace import PlatformLink
from domain.released_rules import BY_REFERENCE, reference, resolve
from domain.returns import ReturnProgress
from domain.sla import (
    TASK_CLOCKS,
    ClockName,
    SlaClock,
    SlaPolicy,
    SlaState,
    case_sla_state,
    escalation_level,
    next_deadline,
)


class CaseStart(BaseModel):
    """The workflow's input. `state` is set only when the case continues as new."""

    number: str
    intake: CaseIntake
    received_at: datetime
    received_by: Actor
    policy: SlaPolicy = Field(default_factory=SlaPolicy)
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    rules: HandlingRules = Field(default_factory=HandlingRules)
    state: CaseState | None = None
    # The marketplace after-sale the case stands for (channels/); unset for every other case.
    platform: PlatformLink | None = None
    # Where the case's page in the console is, for the link in Temporal UI's current details.
    console_url: str | None = None

    # The pinned policy, calendar and rules that are a released built-in go by reference
    # (version and digest, under `released`) instead of in full (domain/released_rules.py):
    # the start input is in the history of every case and of every run it continues into.
    # Each such field holds the word "released" where a worker older than the references
    # expects the rules themselves: it fails to read the start (its workflow task is retried
    # until a worker that knows them takes it) instead of running the case on its defaults,
    # which for the calendar are the plain office week, not the official one.
    @model_serializer(mode="wrap")
    def _by_reference(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        refs = {kind: ref for kind in ("policy", "calendar", "rules") if (ref := reference(kind, getattr(self, kind)))}
        if refs and isinstance(data, dict):
            for kind in refs:
                data[kind] = BY_REFERENCE
            data["released"] = refs
        return data

    @model_validator(mode="before")
    @classmethod
    def _resolve_references(cls, data: Any) -> Any:
        if isinstance(data, dict) and "released" in data:
            data = dict(data)
            for kind, ref in (data.pop("released") or {}).items():
                data[kind] = resolve(kind, ref)  # over the placeholder, or where a first form left none
        return data


class CaseProgress(BaseModel):
    """Where a case stands: what every action answers with."""

    number: str
    stage: Stage = Stage.RECEIVED
    received_at: datetime
    updated_at: datetime
    cycle_started_at: datetime  # receipt, or the last reopen: resolution is due from here
    seq: int = 0  # number of the last timeline event
    suggestion: TriageSuggestion | None = None
    categories: list[Category] = Field(default_factory=list)
    priority: Priority | None = None
    # The suggested priority the clocks count by until triage sets `priority` (unset on cases
    # received before the workflow patch first-reply-by-priority).
    provisional_priority: Priority | None = None
    department: Department | None = None
    assignee: str | None = None
    open_question: str | None = None
    plan: ProposedPlan | None = None
    last_rejection: str | None = None
    rejections: int = 0  # of plans in this cycle
    duplicate_of: str | None = None
    duplicates: list[str] = Field(default_factory=list)  # cases marked as repeating this one
    receipt: LedgerReceipt | None = None
    follow_up: FollowUpTask | None = None  # set while a person must carry out the resolution
    exchange_offer: ExchangeOffer | None = None  # set while the customer chooses a similar item or a refund
    platform: PlatformLink | None = None  # the marketplace after-sale the case stands for (channels/)
    console_url: str | None = None  # the console's base URL when the case started (current details link to it)
    exchange_choice: ExchangeChoice | None = None  # the choice, until it is carried out
    returns: ReturnProgress | None = None  # a return or repair under way, until it is settled
    result_told_at: datetime | None = None  # an agent told the customer the result (this cycle)
    call_back: CallBackTask | None = None  # set while a person must call the customer back
    fix_check: FixCheck | None = None  # the follow-up after a satisfied close, and its answer
    feedback: list[Feedback] = Field(default_factory=list)
    # Multi-department cases: the lead named by the head (the case's department) and the
    # assisting departments' contributions.
    lead_department: Department | None = None
    contributions: list[Contribution] = Field(default_factory=list)
    reopen_count: int = 0
    clocks: dict[ClockName, SlaClock] = Field(default_factory=dict)
    next_update_at: datetime | None = None  # the customer hears from us by then, even if nothing changed
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    waiting_for: str = "triage by an agent"

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest deadline still running (`domain.sla.next_deadline`); missed ones show
        in `sla_state` instead."""
        deadline = next_deadline(self.clocks)
        # A return or repair step due from the warehouse or logistics is a deadline too, until it is missed.
        returns = self.returns
        step_due = returns.due_at if returns is not None and not returns.overdue else None
        if step_due is not None and (deadline is None or step_due < deadline):
            return step_due
        return deadline

    @property
    def sla_state(self) -> SlaState:
        # A missed return step is a breach like a missed clock: it left `next_deadline`, it shows here.
        if self.returns is not None and self.returns.overdue:
            return SlaState.BREACHED
        return case_sla_state(self.clocks)

    @property
    def escalation_level(self) -> int:
        return escalation_level(self.clocks)


class CaseView(CaseProgress):
    """An action's answer: the progress without the intake's personal data and the
    pinned rules, which would otherwise be copied into the history at every step."""

    channel: str
    policy_version: str
    calendar_version: str


class CaseBrief(BaseModel):
    """An action's brief answer, for a caller that reads the case elsewhere (the console, which
    redirects to the case page; an API caller sending `Prefer: return=minimal`): where the case
    now stands, without the view that would otherwise be copied into its history at every action
    (workflows/answer_form.py)."""

    number: str
    stage: Stage
    seq: int  # the last timeline event: the action's own, or a later one


class CaseState(CaseProgress):
    """The workflow's whole state, as the `state` query returns it."""

    intake: CaseIntake
    policy: SlaPolicy
    calendar: BusinessCalendar
    rules: HandlingRules = Field(default_factory=HandlingRules)  # absent on cases started before it existed

    def brief(self) -> CaseBrief:
        return CaseBrief(number=self.number, stage=self.stage, seq=self.seq)

    def view(self) -> CaseView:
        progress = {name: getattr(self, name) for name in CaseProgress.model_fields}
        return CaseView(
            **progress,
            channel=self.intake.channel.value,
            policy_version=self.policy.version,
            calendar_version=self.calendar.version,
        )

    def pause_clocks(self, now: datetime) -> list[str]:
        """Pause every running clock (the case waits on the customer); the names paused."""
        return [c.name.value for c in self.clocks.values() if c.pause(now, self.calendar)]

    def resume_clocks(self, now: datetime) -> list[str]:
        """Run the paused clocks again; the names resumed."""
        return [c.name.value for c in self.clocks.values() if c.resume(now, self.calendar)]

    def close_as(self, outcome: Outcome, now: datetime) -> None:
        """Closed before any resolution: every deadline still open is met now."""
        self.outcome = outcome
        self.closed_at = now
        for clock in self.clocks.values():
            if clock.name not in TASK_CLOCKS:
                clock.meet(now)

    def reopen(self, now: datetime) -> None:
        """Back to triage with the same number: a new cycle whose clocks start when the agent
        triages it again. An open call-back (a task clock) stays."""
        self.reopen_count += 1
        self.cycle_started_at = now
        self.assignee = None
        self.plan = None
        self.rejections = 0
        self.outcome = None
        self.closed_at = None
        self.result_told_at = None
        kept = {name: clock for name, clock in self.clocks.items() if name in TASK_CLOCKS and clock.open}
        self.clocks.clear()
        self.clocks.update(kept)


CaseStart.model_rebuild()
