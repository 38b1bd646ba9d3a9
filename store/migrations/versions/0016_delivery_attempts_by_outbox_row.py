"""delivery attempts per outbox row and group robot: a staff alert's robots, each recorded when it took it

Create Date: 2026-12-01 13:00:00
"""

from store.migrations.shapes import add_columns, create_indexes, drop_columns, drop_indexes, number, text

# After 0014 (case attachments); the lead may renumber at merge.
revision, down_revision = "0016", "0014"


def upgrade() -> None:
    add_columns("delivery_attempts", number("outbox_id", nullable=True), text("robot", 64, nullable=True))
    create_indexes("delivery_attempts", "outbox_id")


def downgrade() -> None:
    drop_indexes("delivery_attempts", "outbox_id")
    drop_columns("delivery_attempts", "outbox_id", "robot")
