"""Alembic brings an empty database to head, and head matches the ORM models, on both backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from store.db import create_engine
from store.migrate import alembic_config, upgrade
from store.models import Base
from tests.conftest import POSTGRES_URL, _postgres_reachable

TABLES = {"cases", "case_categories", "timeline_events", "outbox", "ledger_entries", "case_number_counters", "idempotency_keys"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    problem = await _postgres_reachable(POSTGRES_URL)
    if problem:
        if os.environ.get("AFTERSALES_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})")
    name = f"aftersales_migration_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_upgrade_to_head_on_an_empty_database_matches_the_models(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)

        def check(connection) -> tuple[set[str], str | None, list]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return (
                set(inspect(connection).get_table_names()),
                context.get_current_revision(),
                compare_metadata(context, Base.metadata),
            )

        async with engine.connect() as connection:
            tables, revision, differences = await connection.run_sync(check)
        assert TABLES <= tables
        assert revision == ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert differences == [], f"models and migrations disagree: {differences}"

        # Upgrading again is a no-op, as it is at every `aftersales dev` start.
        await upgrade(engine)
    finally:
        await engine.dispose()
