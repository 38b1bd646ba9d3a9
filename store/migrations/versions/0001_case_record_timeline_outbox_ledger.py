"""case record, timeline, outbox, ledger

Create Date: 2026-11-23 10:37:18.470651
"""

import sqlalchemy as sa
from alembic import op

from store.migrations.shapes import (
    case_number,
    create_indexes,
    document,
    drop_indexed_table,
    event_columns,
    moment,
    money,
    number,
    of_case,
    serial_id,
    text,
)

revision, down_revision = "0001", None
CASE_INDEXES = ("department", "priority", "received_at", "stage")


def upgrade() -> None:
    op.create_table("case_number_counters", text("day", 8), number("last"), sa.PrimaryKeyConstraint("day"))
    op.create_table(
        "cases",
        text("number", 32),
        text("stage", 32),
        text("priority", 4, nullable=True),
        text("department", 32, nullable=True),
        text("assignee", 64, nullable=True),
        text("channel", 32),
        text("customer_tier", 16),
        text("customer_name", 100),
        text("customer_phone", 32, nullable=True),
        text("customer_email", 200, nullable=True),
        text("order_number", 64),
        money("paid_amount"),
        text("currency", 3),
        text("sku", 64),
        sa.Column("description", sa.Text(), nullable=False),
        document("intake"),
        number("reopen_count"),
        number("escalation_level"),
        text("sla_state", 16),
        moment("next_deadline", nullable=True),
        text("outcome", 16, nullable=True),
        moment("received_at"),
        moment("updated_at"),
        moment("closed_at", nullable=True),
        moment("archived_at", nullable=True),
        number("last_seq"),
        document("archive_record", nullable=True),
        sa.PrimaryKeyConstraint("number"),
    )
    create_indexes("cases", *CASE_INDEXES)
    op.create_table(
        "idempotency_keys",
        text("scope", 64),
        text("key", 255),
        text("request_hash", 64),
        case_number(),
        moment("created_at"),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_table(
        "case_categories",
        case_number(),
        text("category", 32),
        of_case(),
        sa.PrimaryKeyConstraint("case_number", "category"),
    )
    create_indexes("case_categories", "category")
    op.create_table(
        "ledger_entries",
        serial_id(),
        text("idempotency_key", 64),
        case_number(),
        text("resolution_type", 16),
        money("amount", nullable=True),
        text("currency", 3),
        text("status", 16),
        moment("executed_at"),
        of_case(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    create_indexes("ledger_entries", "case_number")
    op.create_table(
        "outbox",
        serial_id(),
        case_number(),
        number("seq"),
        text("recipient", 64),
        text("topic", 32),
        document("body"),
        text("status", 16),
        number("attempts"),
        moment("created_at"),
        moment("sent_at", nullable=True),
        of_case(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_number", "seq", "recipient", "topic"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["status", "id"], unique=False)
    op.create_table("timeline_events", *event_columns(), of_case(), sa.PrimaryKeyConstraint("case_number", "seq"))
    create_indexes("timeline_events", "at", "kind")


def downgrade() -> None:
    drop_indexed_table("timeline_events", "at", "kind")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
    op.drop_table("outbox")
    drop_indexed_table("ledger_entries", "case_number")
    drop_indexed_table("case_categories", "category")
    op.drop_table("idempotency_keys")
    drop_indexed_table("cases", *CASE_INDEXES)
    op.drop_table("case_number_counters")
