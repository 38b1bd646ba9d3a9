"""outbox delivery and ledger routes

Create Date: 2026-11-23 14:16:27.034991
"""

import sqlalchemy as sa

from store.migrations.shapes import add_columns, drop_columns, moment, text

revision, down_revision = "0007", "0006"


def upgrade() -> None:
    add_columns(
        "ledger_entries",
        text("route", 32, nullable=True),
        text("refund_kind", 24, nullable=True),
        text("reference", 128, nullable=True),
        text("item_sku", 64, nullable=True),
    )
    add_columns(
        "outbox",
        moment("next_attempt_at", nullable=True),
        moment("claimed_until", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    drop_columns("outbox", "next_attempt_at", "claimed_until", "last_error")
    drop_columns("ledger_entries", "route", "refund_kind", "reference", "item_sku")
