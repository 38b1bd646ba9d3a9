"""pinned SLA policy and calendar versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:07:50.566689
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("calendar_version", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_calendar_version"), ["calendar_version"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_policy_version"), ["policy_version"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_policy_version"))
        batch_op.drop_index(batch_op.f("ix_cases_calendar_version"))
        batch_op.drop_column("calendar_version")
        batch_op.drop_column("policy_version")
