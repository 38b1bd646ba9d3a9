"""case departments: the departments assisting a case (multi-department cases)

Create Date: 2026-11-23 17:15:00
"""

import sqlalchemy as sa
from alembic import op

from store.migrations.shapes import case_number, create_indexes, drop_indexed_table, of_case, text

revision, down_revision = "0008", "0007"
INDEXED = ("department", "contribution_status")


def upgrade() -> None:
    op.create_table(
        "case_departments",
        case_number(),
        text("department", 32),
        text("contribution_status", 16),
        of_case(),
        sa.PrimaryKeyConstraint("case_number", "department"),
    )
    create_indexes("case_departments", *INDEXED)


def downgrade() -> None:
    drop_indexed_table("case_departments", *INDEXED)
