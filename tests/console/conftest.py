from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Database
from tests.support.console import Console, console_running


@pytest.fixture
async def console(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[Console]:
    async with console_running(env, database, worker) as running:
        yield running


from tests.support.desk import desk  # noqa: F401, E402 - the fixture of the find, new case and operations tests
