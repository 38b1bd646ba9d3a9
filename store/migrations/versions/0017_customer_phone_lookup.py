"""customer phone look-up hash (HMAC-SHA256 of the E.164 number, never the number); indexes to find a
case by order number, SKU and assignee

Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from domain.phone import phone_lookup_hash
from store.migrations.shapes import add_columns, create_indexes, drop_columns, drop_indexes, text

revision, down_revision = "0017", "0016"

INDEXED = ("customer_phone_hash", "order_number", "sku", "assignee")
_BATCH = 1000


def _key() -> bytes:
    # `store.migrate.upgrade(..., phone_key=...)` hands the running settings' key in; the alembic
    # command line reads the same settings (PHONE_LOOKUP_KEY, .env).
    config = op.get_context().config
    key = config.attributes.get("phone_lookup_key") if config is not None else None
    if key is None:
        from core.settings import Settings

        key = Settings().phone_key()
    return key


def upgrade() -> None:
    add_columns("cases", text("customer_phone_hash", 64, nullable=True))
    create_indexes("cases", *INDEXED)
    # The cases recorded before: hash the phones still stored (anonymised cases have none).
    key = _key()
    cases = sa.table(
        "cases", sa.column("number", sa.String), sa.column("customer_phone", sa.String),
        sa.column("customer_phone_hash", sa.String),
    )  # fmt: skip
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(cases.c.number, cases.c.customer_phone).where(cases.c.customer_phone.is_not(None))
    ).all()
    update = (
        sa.update(cases)
        .where(cases.c.number == sa.bindparam("b_number"))
        .values(customer_phone_hash=sa.bindparam("b_hash"))
    )
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        connection.execute(update, [{"b_number": n, "b_hash": phone_lookup_hash(p, key)} for n, p in batch])


def downgrade() -> None:
    drop_indexes("cases", *INDEXED)
    drop_columns("cases", "customer_phone_hash")
