"""sla policy and calendar versions

Create Date: 2026-11-23 11:15:22.201967
"""

from store.migrations.shapes import create_indexes, create_versioned_document, drop_indexed_table

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    for table in ("calendar_versions", "sla_policy_versions"):
        create_versioned_document(table)
        create_indexes(table, "created_at")


def downgrade() -> None:
    for table in ("sla_policy_versions", "calendar_versions"):
        drop_indexed_table(table, "created_at")
