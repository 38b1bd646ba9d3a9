"""marketplace channels: received platform messages (dedupe by message id) and one case per platform after-sale

Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from store.migrations.shapes import create_indexes, document, drop_indexed_table, moment, number, serial_id, text

revision, down_revision = "0012", "0010"


def upgrade() -> None:
    op.create_table(
        "channel_messages",
        serial_id(),
        text("platform", 16),
        text("message_id", 128),
        text("topic", 64),
        text("step", 32),
        text("after_sale_id", 64),
        moment("occurred_at"),
        number("version", nullable=True),
        moment("received_at"),
        document("event"),
        text("state", 16),
        text("case_number", 32, nullable=True),
        moment("applied_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "message_id"),
    )
    create_indexes("channel_messages", "after_sale_id", "state")
    op.create_table(
        "platform_links",
        text("platform", 16),
        text("after_sale_id", 64),
        text("case_number", 32),
        text("order_number", 64, nullable=True),
        text("status", 32, nullable=True),
        moment("deadline", nullable=True),
        moment("created_at"),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("platform", "after_sale_id"),
        sa.UniqueConstraint("case_number"),
    )
    create_indexes("platform_links", "order_number")


def downgrade() -> None:
    drop_indexed_table("platform_links", "order_number")
    drop_indexed_table("channel_messages", "after_sale_id", "state")
