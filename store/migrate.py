"""Bring a database to the latest schema with Alembic (used by the CLI, the dev command and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head", *, phone_key: bytes | None = None) -> None:
    """`phone_key`: the settings' phone look-up key, for the revision that hashes stored phones
    (it reads the settings from the environment when not given)."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        if phone_key is not None:
            config.attributes["phone_lookup_key"] = phone_key
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
