"""customer messages: each delivery attempt on the case's timeline; opt-outs keyed by a contact hash

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

# After 0014 (case attachments, merged first); the lead may renumber at merge.
revision, down_revision = "0013", "0012"


def upgrade() -> None:
    op.create_table(
        "delivery_attempts",
        serial_id(),
        case_number(),
        number("seq"),
        text("topic", 32),
        text("channel", 16),
        number("attempt"),
        text("result", 16),
        text("detail", 200, nullable=True),
        moment("at"),
        of_case(),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("delivery_attempts", "case_number")
    op.create_table(
        "opt_outs",
        text("contact_hash", 64),
        text("channel", 16),
        case_number(),
        text("recorded_by", 64),
        text("reason", 200, nullable=True),
        moment("recorded_at"),
        sa.PrimaryKeyConstraint("contact_hash", "channel"),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    drop_indexed_table("delivery_attempts", "case_number")
