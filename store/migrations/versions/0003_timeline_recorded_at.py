"""timeline recorded_at

Create Date: 2026-11-23 11:14:41.470681
"""

from store.migrations.shapes import add_columns, drop_columns, moment

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    add_columns("timeline_events", moment("recorded_at", nullable=True))


def downgrade() -> None:
    drop_columns("timeline_events", "recorded_at")
