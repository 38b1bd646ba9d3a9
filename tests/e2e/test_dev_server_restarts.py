"""`aftersales dev` stopped and started again on the same data directory, and the
database dropping every connection, while cases are in flight: every case still
reaches its satisfied close, its timeline complete and nothing recorded twice."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from temporalio.client import Client

from api.app import create_app
from cli.devserver import DevServer
from core.settings import Settings
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.migrate import upgrade
from tests.conftest import Database
from tests.support.devrun import free_port
from tests.support.durability import RESULT_TOLD, act, assert_nothing_lost_or_doubled, wait_for_record
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake
from tests.support.workers import in_process_worker

CASES = 8
SEED = 6


@asynccontextmanager
async def dev(
    settings: Settings, port: int, ui_port: int
) -> AsyncIterator[tuple[httpx.AsyncClient, Client, CaseStore]]:
    """What `aftersales dev` runs: the file-backed Temporal dev server, the worker and the API."""
    async with DevServer(settings.data_dir, port, ui_port) as server:
        client = await server.connect(settings)
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
            sessions = session_factory(engine)
            store = CaseStore(sessions, settings.case_number_prefix)
            app = create_app(settings, temporal=client, sessions=sessions)
            async with in_process_worker(client, store, settings.task_queue):
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test", timeout=120
                ) as api:
                    yield api, client, store
        finally:
            await engine.dispose()


class Case:
    """One case's lifecycle as steps, resumable across restarts."""

    def __init__(self, index: int) -> None:
        self.tag = f"restart-{index}-{time.time_ns()}"
        self.number = ""
        self.done = 0

    def steps(self, api: httpx.AsyncClient, store: CaseStore) -> list[Callable[[], Awaitable[Any]]]:
        n = lambda: self.number  # noqa: E731 - known once the case is open

        async def open_case() -> None:
            self.number = (await act(api, "/cases", intake(), AGENT, f"{self.tag}-open"))["number"]

        def action(name: str, body: Any, who: dict[str, str]) -> Callable[[], Awaitable[Any]]:
            return lambda: act(api, f"/cases/{n()}/{name}", body, who, f"{self.tag}-{name}")

        return [
            open_case,
            action("triage", TRIAGE, AGENT),
            action("accept", None, HANDLER),
            action("plan", PLAN, HANDLER),
            action("approve", {"comment": "ok"}, HEAD),  # P2: the head approves
            lambda: wait_for_record(store, n(), "awaiting_feedback", timeout=120),
            action("result-told", RESULT_TOLD, AGENT),
            action("feedback", {"score": 5}, AGENT),
            lambda: wait_for_record(store, n(), "closed", timeout=120),  # archived after the fix check, a week on
        ]

    async def advance(self, api: httpx.AsyncClient, store: CaseStore, count: int) -> None:
        steps = self.steps(api, store)
        for step in steps[self.done : self.done + count]:
            await step()
            self.done += 1


async def _drop_connections(admin_url: str) -> int:
    """Terminate every other connection to this database, as a failover or a restart would."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            result = await connection.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid()"
                )
            )
            return len(result.fetchall())
    finally:
        await admin.dispose()


async def test_cases_survive_dev_server_restarts_and_dropped_connections(database: Database, tmp_path: Path) -> None:
    postgres = database.backend == "postgresql"
    settings = Settings(
        data_dir=tmp_path / "aftersales",
        database_url=database.url,
        task_queue="dev-restarts",
        case_number_prefix=database.prefix,
    )
    port, ui_port = free_port(), free_port()
    settings = settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})
    chance = random.Random(SEED)
    cases = [Case(i) for i in range(CASES)]
    dropped = 0

    # First run: open every case and take each a random way along.
    async with dev(settings, port, ui_port) as (api, _, store):
        await asyncio.gather(*(case.advance(api, store, chance.randint(1, 5)) for case in cases))
    assert all(case.number for case in cases)

    # Second run, same data directory: go on, while the database drops every connection, twice.
    async with dev(settings, port, ui_port) as (api, _, store):
        if postgres:
            dropped += await _drop_connections(database.url)  # the pool holds only dead connections now

        async def go_on() -> None:
            await asyncio.gather(*(case.advance(api, store, chance.randint(1, 3)) for case in cases))

        work = asyncio.create_task(go_on())
        if postgres:
            for _ in range(2):
                await asyncio.sleep(chance.uniform(0.05, 0.3))  # a moment into the work, wherever it is
                dropped += await _drop_connections(database.url)
        await work

    # Third run: finish every case.
    async with dev(settings, port, ui_port) as (api, client, store):
        await asyncio.gather(*(case.advance(api, store, 9) for case in cases))
        assert [case.done for case in cases] == [9] * CASES
        for case in cases:
            await assert_nothing_lost_or_doubled(store, client, case.number)
    if postgres:
        assert dropped > 0
