"""idempotency keys: in flight, done or released, with the answer to replay

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:32:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Keys recorded before this revision have no stored answer: they read as "done"
    # without a body, and the API answers those with the case as it is now (as before).
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), server_default="done", nullable=False))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("response_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response_body", sa.JSON(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("response_body")
        batch_op.drop_column("response_status")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("state")
