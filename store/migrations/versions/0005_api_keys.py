"""api keys

Create Date: 2026-11-23 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from store.migrations.shapes import create_indexes, drop_indexed_table, moment, text

revision, down_revision = "0005", "0004"


def upgrade() -> None:
    op.create_table(
        "api_keys",
        text("key_id", 16),
        text("secret_hash", 64),
        text("name", 64),
        text("role", 16),
        text("department", 32, nullable=True),
        moment("created_at"),
        moment("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    create_indexes("api_keys", "name")


def downgrade() -> None:
    drop_indexed_table("api_keys", "name")
