"""Alembic brings an empty database to head, and head matches the ORM models, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_engine
from store.migrate import alembic_config, upgrade
from store.models import Base
from tests.conftest import POSTGRES_URL, fresh_postgres_database, require_postgres

TABLES = {
    "cases",
    "case_categories",
    "timeline_events",
    "outbox",
    "ledger_entries",
    "case_number_counters",
    "idempotency_keys",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    await require_postgres()
    async with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


async def _schema(engine: AsyncEngine) -> tuple[set[str], str | None, list]:
    """The tables, the revision Alembic has recorded, and how the schema differs from the models."""

    def read(connection: Connection) -> tuple[set[str], str | None, list]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return (
            set(inspect(connection).get_table_names()),
            context.get_current_revision(),
            compare_metadata(context, Base.metadata),
        )

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def _assert_at_head_as_the_models_say(engine: AsyncEngine) -> None:
    tables, revision, differences = await _schema(engine)
    assert tables >= TABLES
    assert revision == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert differences == [], f"models and migrations disagree: {differences}"


@pytest.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_database_url)
    yield engine
    await engine.dispose()


async def test_upgrade_to_head_on_an_empty_database_matches_the_models(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await _assert_at_head_as_the_models_say(engine)

    # Upgrading again is a no-op, as it is at every `aftersales dev` start.
    await upgrade(engine)
    await _assert_at_head_as_the_models_say(engine)


async def test_every_revision_downgrades_to_an_empty_database_and_upgrades_again(engine: AsyncEngine) -> None:
    def downgrade_to_base(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.run_sync(downgrade_to_base)
    tables, revision, _ = await _schema(engine)
    assert (tables, revision) == ({"alembic_version"}, None)

    await upgrade(engine)
    await _assert_at_head_as_the_models_say(engine)


async def test_the_phone_lookup_revision_hashes_the_phones_already_stored(engine: AsyncEngine) -> None:
    """0017 fills the look-up column of earlier cases with the key it is given; a case whose phone
    retention removed keeps none."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from domain.phone import phone_lookup_hash

    await upgrade(engine, "0010")
    columns = (
        "number, stage, channel, customer_tier, customer_name, customer_phone, order_number, paid_amount, currency, "
        "sku, description, intake, reopen_count, escalation_level, sla_state, received_at, updated_at, last_seq"
    )
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        for number, phone in (("MIG-1", "+86 139 1111 2222"), ("MIG-2", None)):
            await connection.execute(
                text(
                    f"INSERT INTO cases ({columns}) VALUES (:number, 'received', 'phone', 'normal', 'X', :phone, "
                    "'ORD-1', 1, 'CNY', 'SKU', 'd', '{}', 0, 0, 'on_track', :at, :at, 1)"
                ),
                {"number": number, "phone": phone, "at": now},
            )
    await upgrade(engine, phone_key=b"another key")
    async with engine.connect() as connection:
        rows = dict((await connection.execute(text("SELECT number, customer_phone_hash FROM cases"))).all())
    assert rows == {"MIG-1": phone_lookup_hash("13911112222", b"another key"), "MIG-2": None}
