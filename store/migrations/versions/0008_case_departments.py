"""case departments: the departments assisting a case (multi-department cases)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 17:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_departments",
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("contribution_status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["case_number"], ["cases.number"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_number", "department"),
    )
    op.create_index("ix_case_departments_department", "case_departments", ["department"])
    op.create_index("ix_case_departments_contribution_status", "case_departments", ["contribution_status"])


def downgrade() -> None:
    op.drop_index("ix_case_departments_contribution_status", table_name="case_departments")
    op.drop_index("ix_case_departments_department", table_name="case_departments")
    op.drop_table("case_departments")
