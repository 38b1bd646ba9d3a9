"""triage rule versions; escalations on the case row (supervisor and head queues)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_rule_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("triage_rule_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_rule_versions_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_triage_rule_versions_activated_at"), ["activated_at"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalations", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("escalated_to", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_breached_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("missed_deadline", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("missed_deadline")
        batch_op.drop_column("first_breached_at")
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("escalated_to")
        batch_op.drop_column("escalations")

    with op.batch_alter_table("triage_rule_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_rule_versions_activated_at"))
        batch_op.drop_index(batch_op.f("ix_triage_rule_versions_created_at"))
    op.drop_table("triage_rule_versions")
