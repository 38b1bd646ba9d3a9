"""pinned SLA policy and calendar versions

Create Date: 2026-11-23 11:07:50.566689
"""

from store.migrations.shapes import add_columns, create_indexes, drop_columns, drop_indexes, text

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    add_columns("cases", text("policy_version", 64, nullable=True), text("calendar_version", 64, nullable=True))
    create_indexes("cases", "calendar_version", "policy_version")


def downgrade() -> None:
    drop_indexes("cases", "calendar_version", "policy_version")
    drop_columns("cases", "policy_version", "calendar_version")
