"""triage rule versions; escalations on the case row (supervisor and head queues)

Create Date: 2026-11-23 16:50:00
"""

from store.migrations.shapes import (
    add_columns,
    create_indexes,
    create_versioned_document,
    document,
    drop_columns,
    drop_indexed_table,
    moment,
    text,
)

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    create_versioned_document(
        "triage_rule_versions", moment("activated_at", nullable=True), text("activated_by", 64, nullable=True)
    )
    create_indexes("triage_rule_versions", "created_at", "activated_at")
    add_columns(
        "cases",
        document("escalations", nullable=True),
        text("escalated_to", 32, nullable=True),
        moment("escalated_at", nullable=True),
        moment("first_breached_at", nullable=True),
        moment("missed_deadline", nullable=True),
    )


def downgrade() -> None:
    drop_columns("cases", "escalations", "escalated_to", "escalated_at", "first_breached_at", "missed_deadline")
    drop_indexed_table("triage_rule_versions", "created_at", "activated_at")
