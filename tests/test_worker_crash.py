"""The worker is SIGKILLed at random points while 30 cases run their whole life, and
restarted each time: every case still reaches its satisfied close (it archives a week
later, after the fix check), with each event recorded once and
one ledger entry for its one approved refund."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.db import session_factory
from tests.conftest import Database
from tests.durability import WorkerProcess, assert_nothing_lost_or_doubled, run_lifecycle

CASES = 30
SEED = 20261123
CONCURRENCY = 30
STAGGER = 0.4  # seconds between two cases' starts


async def test_cases_survive_worker_kills(env: WorkflowEnvironment, database: Database, tmp_path: Path) -> None:
    if database.backend != "postgresql":
        pytest.skip("run on PostgreSQL, the production database; SQLite survives restarts in test_dev_server_restarts")
    task_queue = f"crash-{database.backend}"
    worker = WorkerProcess(
        address=env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        task_queue=task_queue,
        database_url=database.url,
        directory=tmp_path,
    )
    settings = Settings(task_queue=task_queue, database_url=database.url, case_number_prefix=database.prefix)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    chance = random.Random(SEED)
    actions = 0
    next_kill = chance.randint(15, 30)
    restarting = asyncio.Lock()
    background: set[asyncio.Task[None]] = set()

    async def kill_and_restart(delay: float) -> None:
        # A little after an action: the worker is often mid-task or mid-activity then.
        await asyncio.sleep(delay)
        async with restarting:
            await worker.kill()
            worker.start()

    async def after_action() -> None:
        nonlocal actions, next_kill
        actions += 1
        if actions >= next_kill:
            next_kill = actions + chance.randint(15, 30)
            task = asyncio.create_task(kill_and_restart(chance.uniform(0, 0.3)))
            background.add(task)
            task.add_done_callback(background.discard)

    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> str:
        # Staggered, so that at any moment cases are at every stage of their life.
        await asyncio.sleep(index * STAGGER)
        async with gate:
            return await run_lifecycle(api, database.store, f"crash-{database.backend}-{index}", after_action)

    started = time.monotonic()
    worker.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test", timeout=300
        ) as api:
            numbers = await asyncio.gather(*(one(i) for i in range(CASES)))
        await asyncio.gather(*background)
        assert worker.kills >= 6, f"only {worker.kills} kills"
        for number in numbers:
            await assert_nothing_lost_or_doubled(database.store, env.client, number)
    finally:
        for task in background:
            task.cancel()
        await worker.stop()
    print(f"{CASES} cases, {worker.kills} kills, {time.monotonic() - started:.1f}s")
