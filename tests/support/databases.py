"""A database of its own for the privacy tests: they seed years-old cases and hundreds of
canaries, which the shared per-backend database's lists and reports must not see."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.migrate import upgrade
from tests.conftest import POSTGRES_URL, Database, fresh_postgres_database


@contextlib.asynccontextmanager
async def own_database(database: Database, tmp_path: Path, prefix: str) -> AsyncIterator[Database]:
    """A fresh database on `database`'s backend. `prefix` keeps its case numbers (workflow ids)
    apart from every other database's on the shared Temporal server."""
    async with contextlib.AsyncExitStack() as stack:
        if database.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        else:
            url = await stack.enter_async_context(fresh_postgres_database(POSTGRES_URL))
        engine = create_engine(url)
        await upgrade(engine)
        try:
            yield Database(
                database.backend, url, engine, CaseStore(session_factory(engine), number_prefix=prefix), prefix
            )
        finally:
            await engine.dispose()
