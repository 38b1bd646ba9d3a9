"""sla policy and calendar versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:15:22.201967
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "calendar_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("calendar_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calendar_versions_created_at"), ["created_at"], unique=False)

    op.create_table(
        "sla_policy_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("sla_policy_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_policy_versions_created_at"), ["created_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sla_policy_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_policy_versions_created_at"))

    op.drop_table("sla_policy_versions")
    with op.batch_alter_table("calendar_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_versions_created_at"))

    op.drop_table("calendar_versions")
