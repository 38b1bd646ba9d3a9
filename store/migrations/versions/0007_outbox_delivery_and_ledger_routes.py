"""outbox delivery and ledger routes

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-23 14:16:27.034991
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("refund_kind", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("item_sku", sa.String(length=64), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("next_attempt_at")

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("item_sku")
        batch_op.drop_column("reference")
        batch_op.drop_column("refund_kind")
        batch_op.drop_column("route")
