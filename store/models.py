"""ORM models. Lists, search and reports read these; only activities write them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, cast

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, Numeric, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stored in UTC, read back aware: SQLite would otherwise drop the offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every instant in the record is timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON}


def table_of(model: type[Base]) -> Table:
    """The table a model maps, for Core statements: `Model.__table__` is typed as any FromClause, which
    insert(), update() and delete() do not take; for these declarative models it is always a Table."""
    return cast(Table, model.__table__)


class CaseRow(Base):
    __tablename__ = "cases"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[str | None] = mapped_column(String(4), index=True)
    department: Mapped[str | None] = mapped_column(String(32), index=True)
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    customer_tier: Mapped[str] = mapped_column(String(16))
    customer_name: Mapped[str] = mapped_column(String(100))
    customer_phone: Mapped[str | None] = mapped_column(String(32))
    # HMAC-SHA256 of the normalised phone (domain/phone.py): finds a case by phone; holds no number.
    customer_phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_email: Mapped[str | None] = mapped_column(String(200))
    order_number: Mapped[str] = mapped_column(String(64), index=True)
    paid_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    sku: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)
    intake: Mapped[dict[str, Any]]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    sla_state: Mapped[str] = mapped_column(String(16))
    next_deadline: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    # The SLA policy and calendar versions the case is pinned to: a new version re-plans only these.
    policy_version: Mapped[str | None] = mapped_column(String(64), index=True)
    calendar_version: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    last_seq: Mapped[int] = mapped_column(Integer)
    archive_record: Mapped[dict[str, Any] | None]
    # The clocks still breached and how far each climbed (domain/queues.py), and the summary
    # the supervisor's and the head's queues order by; unset while nothing is breached.
    escalations: Mapped[list[Any] | None] = mapped_column(JSON)
    escalated_to: Mapped[str | None] = mapped_column(String(32))
    escalated_at: Mapped[datetime | None]
    first_breached_at: Mapped[datetime | None]
    missed_deadline: Mapped[datetime | None]


class CaseCategoryRow(Base):
    """One row per category of a case, so lists can filter on any of them."""

    __tablename__ = "case_categories"

    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class CaseDepartmentRow(Base):
    """One row per department assisting a case (multi-department cases): its handlers see the
    case, and operators see whose contribution is overdue."""

    __tablename__ = "case_departments"

    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    # Of its latest contribution: pending, overdue, received or waived.
    contribution_status: Mapped[str] = mapped_column(String(16), index=True)


class TimelineEventRow(Base):
    """(case_number, seq) is written once, however often an activity retries: a retry carries
    the same fingerprint. A different event at an existing seq can only come from a workflow
    task that never committed; it replaces the row, and `superseded_events` keeps what it
    replaced (store/cases.py)."""

    __tablename__ = "timeline_events"

    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]]
    # When the row reached the database (`at` is when it happened in the case).
    recorded_at: Mapped[datetime | None]
    # sha256 of the whole transition written; unset on rows recorded before it existed.
    fingerprint: Mapped[str | None] = mapped_column(String(64))


class SupersededEventRow(Base):
    """Audit: a timeline event (and its outbox rows) written by a workflow task that never
    committed, replaced by what the case really did. Notifications already delivered are
    listed with status `delivered`: they went out and cannot be taken back."""

    __tablename__ = "superseded_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime | None]
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    notifications: Mapped[list[Any]] = mapped_column(JSON)  # [{recipient, topic, status}] of its outbox rows
    superseded_at: Mapped[datetime]
    # The fingerprint of the event written at the same seq instead; unset when the seq was
    # simply not reached again (a later event of the same lost task).
    replaced_by: Mapped[str | None] = mapped_column(String(64))


class RecordFailureRow(Base):
    """A transition the database refused for good (a data error: retrying cannot help). The
    case waits for an engineer; the stuck finder lists it. No payload is kept: only what was
    refused and the database's error class."""

    __tablename__ = "record_failures"
    __table_args__ = (UniqueConstraint("case_number", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key: the refused write may be the one that would have made the case row.
    case_number: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    failed_at: Mapped[datetime]


class OutboxRow(Base):
    """Notifications waiting for a delivery adapter."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("case_number", "seq", "recipient", "topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]]
    # pending -> sending (claimed by one dispatcher) -> delivered, or back to pending
    # with a later next_attempt_at, or failed once the attempts are used up.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]  # due now when unset
    claimed_until: Mapped[datetime | None]  # a claim a crashed dispatcher left expires here
    last_error: Mapped[str | None] = mapped_column(Text)


Index("ix_outbox_pending", OutboxRow.status, OutboxRow.id)


class LedgerEntryRow(Base):
    """Money and goods that moved because of a case: one row per executed resolution."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"), index=True)
    resolution_type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    executed_at: Mapped[datetime]
    # The payment route that carried a refund (original, alternative, manual) and the
    # adapter's reference; the idempotency key is per route, so a route is paid once.
    route: Mapped[str | None] = mapped_column(String(32))
    refund_kind: Mapped[str | None] = mapped_column(String(24))
    reference: Mapped[str | None] = mapped_column(String(128))
    item_sku: Mapped[str | None] = mapped_column(String(64))  # the item an exchange sent


class CaseNumberCounterRow(Base):
    """The last sequence number handed out per business day."""

    __tablename__ = "case_number_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class IdempotencyKeyRow(Base):
    """A caller's Idempotency-Key: the request it stood for, the case, and the answer to replay.

    state is "in_flight" while the first request runs, "done" once its answer is
    stored (response_status, response_body), "released" when it failed and a retry may
    run it again (the case number stays bound, so a retry never opens a second case).
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), server_default="done")
    claimed_at: Mapped[datetime | None]
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None]


class ApiKeyRow(Base):
    """A service's API key: only its public id and the SHA-256 of the whole key are kept.

    The secret part is 256 random bits, so a plain hash suffices (no password
    stretching needed); `name` is the caller's identity, the actor of its actions.
    """

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class _UploadedVersion:
    """A rules version an admin uploaded; the newest is pinned on new cases."""

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(64))


class SlaPolicyVersionRow(_UploadedVersion, Base):
    __tablename__ = "sla_policy_versions"


class CalendarVersionRow(_UploadedVersion, Base):
    __tablename__ = "calendar_versions"


class TriageRuleVersionRow(Base):
    """A triage rules version an admin uploaded (immutable); the latest activated one is in force."""

    __tablename__ = "triage_rule_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[datetime | None] = mapped_column(index=True)
    activated_by: Mapped[str | None] = mapped_column(String(64))


class DeliveryAttemptRow(Base):
    """Each try at telling the customer something, and its result, for the case's timeline:
    sent, failed, deferred (quiet hours) or opted_out. Never the address or the text.

    A staff alert's group robots are recorded here too (channel "robot", `robot` its id), each
    per outbox row, so a retry in any dispatcher skips the robots that already took the alert."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(ForeignKey("cases.number", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # the timeline event that sent the notification
    topic: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)  # the outbox row's attempt
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime]
    outbox_id: Mapped[int | None] = mapped_column(Integer, index=True)  # set on robot rows
    robot: Mapped[str | None] = mapped_column(String(64))  # the group robot's id (delivery/robots)


class OptOutRow(Base):
    """A customer asked for no more messages on a channel. Keyed by a hash of the contact (the phone
    or the e-mail address, normalised), so it holds for every case of that customer and the raw
    contact is stored nowhere here."""

    __tablename__ = "opt_outs"

    contact_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32))  # where it was recorded
    recorded_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime]


class CaseAttachmentRow(Base):
    """A file a customer uploaded on the customer page, checked and stored (services/uploads.py).

    `reference` is what the case's timeline names as evidence (`attachment:<reference>`) and what
    the API serves it by; `storage_key` is where the storage adapter keeps the bytes."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(32), ForeignKey("cases.number", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # photo or video
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime]


class ChannelMessageRow(Base):
    """A marketplace message, recorded before anything acts on it: (platform, message_id) is
    written once, so a redelivered message is seen as a duplicate and acts once. `state`:
    received -> applied, or held (its after-sale has no case yet: out of order) until it can
    be applied in the platform's order."""

    __tablename__ = "channel_messages"
    __table_args__ = (UniqueConstraint("platform", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(32))
    after_sale_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime]
    version: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime]
    event: Mapped[dict[str, Any]]  # the normalised PlatformEvent (ids, codes, amounts: no personal data)
    state: Mapped[str] = mapped_column(String(16), index=True)
    case_number: Mapped[str | None] = mapped_column(String(32))
    applied_at: Mapped[datetime | None]


class PlatformLinkRow(Base):
    """One case per platform after-sale: the after-sale id is searchable here, with the
    platform's last status and deadline as the case last applied them."""

    __tablename__ = "platform_links"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    after_sale_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    order_number: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str | None] = mapped_column(String(32))
    deadline: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
