"""Two API replicas share one rate limit through Redis (issue 16, part 6): `aftersales api` twice,
as processes, with RATE_LIMIT_STORAGE=redis://127.0.0.1:6379; a caller's requests count on
both, so the one past the limit is refused by either. With the default in-memory storage each
process counts apart (the control: the same requests all pass). /metrics is never limited."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from store.db import create_engine
from store.migrate import upgrade
from tests.support.people import person
from tests.support.processes import aftersales, api_command, free_port

REDIS = ("127.0.0.1", 6379)
LIMIT = 4


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.asynccontextmanager
async def two_replicas(
    env: WorkflowEnvironment, tmp_path: Path, storage: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'cases.db'}"
    engine = create_engine(database)
    await upgrade(engine)
    await engine.dispose()
    temporal = env.client.service_client.config.target_host
    settings = {"DATABASE_URL": database, "RATE_LIMIT": f"{LIMIT}/minute", "RATE_LIMIT_STORAGE": storage}
    first, second = free_port(), free_port()
    async with (
        aftersales(api_command(first, temporal), settings, tmp_path / "a.log", f"http://127.0.0.1:{first}/healthz"),
        aftersales(api_command(second, temporal), settings, tmp_path / "b.log", f"http://127.0.0.1:{second}/healthz"),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{first}", timeout=30) as a,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{second}", timeout=30) as b,
    ):
        yield a, b


async def _statuses(a: httpx.AsyncClient, b: httpx.AsyncClient, caller: dict[str, str], n: int) -> list[int]:
    """`n` requests of one caller, every other one to each replica."""
    return [(await (a if i % 2 == 0 else b).get("/cases", headers=caller)).status_code for i in range(n)]


async def test_two_replicas_share_the_limit_through_redis(env: WorkflowEnvironment, tmp_path: Path) -> None:
    if not redis_answers():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not answering on {REDIS}: CI needs it")
        pytest.skip(f"Redis is not answering on {REDIS}")
    caller = person(f"agent-{uuid.uuid4().hex[:8]}", "agent")  # its own count, whoever else uses this Redis
    async with two_replicas(env, tmp_path, f"redis://{REDIS[0]}:{REDIS[1]}/0") as (a, b):
        assert await _statuses(a, b, caller, LIMIT + 2) == [200] * LIMIT + [429, 429]
        refused = await b.get("/cases", headers=caller)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        # Prometheus is no caller: scraping is never limited.
        assert {(await a.get("/metrics")).status_code for _ in range(LIMIT * 2)} == {200}


async def test_in_memory_each_replica_counts_apart(env: WorkflowEnvironment, tmp_path: Path) -> None:
    caller = person(f"agent-{uuid.uuid4().hex[:8]}", "agent")
    async with two_replicas(env, tmp_path, "memory://") as (a, b):
        assert await _statuses(a, b, caller, LIMIT * 2) == [200] * (LIMIT * 2)
        assert (await a.get("/cases", headers=caller)).status_code == 429
