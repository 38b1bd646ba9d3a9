"""Engine and session factory for PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def async_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and pick the async driver."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    # SQL parameters hold customers' names and phones: keep them out of the SQL log and of error messages.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def rows_changed(session: AsyncSession, statement: Executable) -> int:
    """Runs an INSERT, UPDATE or DELETE and returns how many rows it changed. (`execute` is typed as returning
    a plain Result, which has no rowcount; for these statements it is a CursorResult.)"""
    return cast("CursorResult[Any]", await session.execute(statement)).rowcount
