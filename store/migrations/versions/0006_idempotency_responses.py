"""idempotency keys: in flight, done or released, with the answer to replay

Create Date: 2026-11-23 14:32:00.000000
"""

import sqlalchemy as sa

from store.migrations.shapes import add_columns, document, drop_columns, moment, number

revision, down_revision = "0006", "0005"


def upgrade() -> None:
    # Keys recorded before this revision have no stored answer: they read as "done"
    # without a body, and the API answers those with the case as it is now (as before).
    add_columns(
        "idempotency_keys",
        sa.Column("state", sa.String(length=16), server_default="done", nullable=False),
        moment("claimed_at", nullable=True),
        number("response_status", nullable=True),
        document("response_body", nullable=True),
    )


def downgrade() -> None:
    drop_columns("idempotency_keys", "state", "claimed_at", "response_status", "response_body")
