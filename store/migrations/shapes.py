"""The column and table shapes the revisions in versions/ share, and their batch steps.

A revision that has run somewhere must build the same schema for ever, so these functions are frozen with
the revisions that call them: never change what one of them emits; a new shape is a new function. Indexes
on one column are named `ix_<table>_<column>`, as the models' `index=True` names them. On SQLite each batch
step alters the table in place (adding columns and indexes) or copies it (dropping columns), as the
generated revisions did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def text(name: str, length: int, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def moment(name: str, *, nullable: bool = False) -> sa.Column:
    """An instant (timezone-aware)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def number(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def document(name: str, *, nullable: bool = False) -> sa.Column:
    """A JSON document."""
    return sa.Column(name, sa.JSON(), nullable=nullable)


def money(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Numeric(precision=12, scale=2), nullable=nullable)


def serial_id() -> sa.Column:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def case_number() -> sa.Column:
    return text("case_number", 32)


def of_case() -> sa.ForeignKeyConstraint:
    """The row goes with its case (cases.number)."""
    return sa.ForeignKeyConstraint(["case_number"], ["cases.number"], ondelete="CASCADE")


def event_columns() -> list[sa.Column]:
    """A timeline event as recorded (timeline_events); superseded_events keeps the same columns."""
    return [
        case_number(),
        number("seq"),
        text("kind", 32),
        text("stage", 32),
        text("actor_id", 64),
        text("actor_role", 16),
        moment("at"),
        document("data"),
    ]


def create_versioned_document(table: str, *extra: sa.Column) -> None:
    """An uploaded rule or calendar document kept per version, with the columns in `extra` after its author."""
    op.create_table(
        table,
        text("version", 64),
        document("body"),
        moment("created_at"),
        text("created_by", 64),
        *extra,
        sa.PrimaryKeyConstraint("version"),
    )


def create_indexes(table: str, *columns: str) -> None:
    """One index per column, in the order given."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def drop_indexes(table: str, *columns: str) -> None:
    """Undoes create_indexes(table, *columns): drops them in the reverse order."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in reversed(columns):
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))


def drop_indexed_table(table: str, *indexed: str) -> None:
    """Drops the table after the indexes create_indexes(table, *indexed) made."""
    if indexed:
        drop_indexes(table, *indexed)
    op.drop_table(table)


def add_columns(table: str, *columns: sa.Column) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Undoes add_columns(table, ...) with the same names: drops them in the reverse order."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in reversed(names):
            batch_op.drop_column(name)
