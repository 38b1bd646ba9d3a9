"""What the workflow hands its activities: transitions to record, resolutions to carry out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from domain.case import Actor, CaseIntake, Category, Department, Outcome, Priority, ResolutionType, Stage
from domain.contribution import ContributionStatus
from domain.lifecycle import EventKind
from domain.queues import Escalation
from domain.sla import SlaState


class Notification(BaseModel):
    """A message for the outbox; delivery adapters send it later.

    `recipient` is a role or "customer", never contact details: the
    dispatcher resolves those from the case record.
    """

    recipient: str
    topic: str
    body: dict[str, Any] = Field(default_factory=dict)


class CaseSnapshot(BaseModel):
    """The fields of the case row a transition leaves behind.

    Every one is written with each transition (not a delta: the row is the snapshot's), but the
    record's input leaves out those at their defaults (`Recorder._write`), which the activity reads
    back as the same snapshot: a regular activity's input is kept in the case's history."""

    stage: Stage
    categories: list[Category] = Field(default_factory=list)
    priority: Priority | None = None
    department: Department | None = None
    assignee: str | None = None
    reopen_count: int = 0
    escalation_level: int = 0
    sla_state: SlaState = SlaState.ON_TRACK
    next_deadline: datetime | None = None
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    policy_version: str
    calendar_version: str
    # The clocks still breached and their rungs: the supervisor's and the head's queues.
    escalations: list[Escalation] = Field(default_factory=list)


class Transition(BaseModel):
    """One timeline event plus the case row and outbox rows it implies.

    (number, seq) is the idempotency key: recording it twice writes once.
    """

    number: str
    seq: int
    kind: EventKind
    at: datetime
    actor: Actor
    data: dict[str, Any] = Field(default_factory=dict)
    snapshot: CaseSnapshot
    intake: CaseIntake | None = None  # only on the first event
    received_at: datetime | None = None  # only on the first event
    notifications: list[Notification] = Field(default_factory=list)
    archive: dict[str, Any] | None = None  # the full final record, on the archive event
    # Cases recorded before this flag existed rewrite their categories every time.
    categories_changed: bool = True
    # Set when a contribution changed (multi-department): each assisting department and the
    # status of its contribution. Those departments see the case too.
    assisting: dict[Department, ContributionStatus] | None = None


class RecordedTransition(BaseModel):
    """What `record_transition` did. A local activity's result names the event it wrote (case
    number and kind): its marker is all a history keeps of it. A regular activity's input, in the
    history beside its result, names it already, so its result leaves them out."""

    number: str | None = None
    seq: int
    kind: EventKind | None = None
    written: bool  # False when a retry found it already recorded

    @model_serializer(mode="wrap")
    def _unnamed_when_unset(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in ("number", "kind"):
                if data.get(name) is None:
                    data.pop(name, None)
        return data


class ResolutionOrder(BaseModel):
    """An approved resolution to carry out; `key` makes a retry a no-op.

    A refund names the payment route to try (original first, then alternative); the
    ledger and the adapter key each route apart (`route_key`), and the activity never
    pays on a second route once one has paid for `key`.
    """

    key: str
    number: str
    type: ResolutionType
    amount: Decimal | None
    currency: str
    at: datetime
    route: str | None = None  # unset: cases executed before payment routes existed
    refund_kind: str | None = None
    payment_route: str | None = None  # how the customer paid (from the order), for the original route
    external_reference: str | None = None  # set by the activity once the adapter carried it out
    sku: str | None = None  # the item an exchange sends

    @property
    def route_key(self) -> str:
        return f"{self.key}:{self.route}" if self.route else self.key
