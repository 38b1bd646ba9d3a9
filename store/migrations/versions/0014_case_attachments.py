"""case attachments: photos and videos customers upload on the customer page

Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from store.migrations.shapes import (
    case_number,
    create_indexes,
    drop_indexed_table,
    moment,
    number,
    of_case,
    serial_id,
    text,
)

revision, down_revision = "0014", "0013"


def upgrade() -> None:
    op.create_table(
        "case_attachments",
        serial_id(),
        case_number(),
        text("reference", 64),
        text("kind", 16),
        text("content_type", 64),
        number("size"),
        text("sha256", 64),
        text("storage_key", 200),
        moment("uploaded_at"),
        of_case(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    create_indexes("case_attachments", "case_number")


def downgrade() -> None:
    drop_indexed_table("case_attachments", "case_number")
