"""Response schemas: what the API shows, separate from the ORM rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.privacy import mask_email, mask_name, mask_phone
from domain.sla import SlaView
from domain.state import CaseState
from store.models import CaseRow, TimelineEventRow


class CustomerView(BaseModel):
    name: str | None
    phone: str | None
    email: str | None
    tier: str


class CaseSummary(BaseModel):
    number: str
    stage: str
    priority: str | None
    categories: list[str]
    department: str | None
    assignee: str | None
    channel: str
    customer: CustomerView
    order_number: str
    sku: str
    reopen_count: int
    escalation_level: int
    sla_state: str
    next_deadline: datetime | None
    outcome: str | None
    received_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: CaseRow, categories: list[str], *, masked: bool) -> CaseSummary:
        customer = CustomerView(
            name=mask_name(row.customer_name) if masked else row.customer_name,
            phone=mask_phone(row.customer_phone) if masked else row.customer_phone,
            email=mask_email(row.customer_email) if masked else row.customer_email,
            tier=row.customer_tier,
        )
        return cls(
            number=row.number,
            stage=row.stage,
            priority=row.priority,
            categories=categories,
            department=row.department,
            assignee=row.assignee,
            channel=row.channel,
            customer=customer,
            order_number=row.order_number,
            sku=row.sku,
            reopen_count=row.reopen_count,
            escalation_level=row.escalation_level,
            sla_state=row.sla_state,
            next_deadline=row.next_deadline,
            outcome=row.outcome,
            received_at=row.received_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            archived_at=row.archived_at,
        )


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class CaseDetail(BaseModel):
    """The record from the database plus, while the workflow can answer, its live state."""

    record: CaseSummary | None
    live: CaseState | None
    sla: SlaView | None = None


class DeliveryNote(BaseModel):
    """One try at telling the customer what this event says (services/messages.py)."""

    channel: str
    topic: str
    result: str  # sent, failed, deferred (quiet hours), opted_out
    attempt: int
    at: datetime
    text: str  # 已通过短信告知客户 10:32
    text_en: str  # customer told by SMS at 10:32


class TimelineEvent(BaseModel):
    seq: int
    kind: str
    stage: str
    actor_id: str
    actor_role: str
    at: datetime
    data: dict[str, Any]
    deliveries: list[DeliveryNote] = Field(default_factory=list)

    @classmethod
    def from_row(cls, row: TimelineEventRow) -> TimelineEvent:
        # The row's columns of these names; the case number is in the path already.
        return cls.model_validate(row, from_attributes=True)


class CaseAccepted(BaseModel):
    """The answer to `POST /cases` with `Prefer: respond-async` (202): Temporal has the case; the
    worker records it moments later, which `status` tells."""

    number: str = Field(description="The case number, kept by a repeat with the same Idempotency-Key")
    location: str = Field(description="The case, once recorded: GET it")
    status: str = Field(description="Whether the case is recorded yet: GET it")


class CaseStatus(BaseModel):
    """Whether a case opened with `Prefer: respond-async` is recorded yet."""

    number: str
    recorded: bool = Field(description="true once the case is in the database (and GET /cases/{number} shows it)")
    stage: str | None = Field(default=None, description="The recorded stage, once recorded")
    location: str
