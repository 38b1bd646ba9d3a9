"""timeline fingerprints; superseded events (a workflow task that never committed); record failures

Create Date: 2026-12-01 04:40:00
"""

import sqlalchemy as sa
from alembic import op

from store.migrations.shapes import (
    add_columns,
    case_number,
    create_indexes,
    document,
    drop_columns,
    drop_indexed_table,
    event_columns,
    moment,
    number,
    of_case,
    serial_id,
    text,
)

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    add_columns("timeline_events", text("fingerprint", 64, nullable=True))
    op.create_table(
        "superseded_events",
        serial_id(),
        *event_columns(),
        moment("recorded_at", nullable=True),
        text("fingerprint", 64, nullable=True),
        document("notifications"),
        moment("superseded_at"),
        text("replaced_by", 64, nullable=True),
        of_case(),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("superseded_events", "case_number")
    op.create_table(
        "record_failures",
        serial_id(),
        case_number(),
        number("seq"),
        text("kind", 32),
        text("reason", 200),
        moment("failed_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_number", "seq"),
    )
    create_indexes("record_failures", "case_number")


def downgrade() -> None:
    drop_indexed_table("record_failures", "case_number")
    drop_indexed_table("superseded_events", "case_number")
    drop_columns("timeline_events", "fingerprint")
