"""Limits: request bodies over `max_body_bytes` are 413; a caller over `rate_limit` is 429."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.db import session_factory
from tests.conftest import Database
from tests.support.people import ADMIN, AGENT, SUPERVISOR, intake, person

AppFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def api_with(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[AppFactory]:
    """An API on the shared worker and database with its own settings (limits)."""
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: object) -> httpx.AsyncClient:
        settings = Settings(
            task_queue=worker, database_url=database.url, case_number_prefix=database.prefix, **overrides
        )
        app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def assert_problem(response: httpx.Response, status: int, title: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["title"]) == (status, title)
    assert body["instance"] == response.request.url.path
    return body


async def test_a_body_over_the_limit_is_413_declared_or_streamed(api_with: AppFactory) -> None:
    api = api_with(max_body_bytes=4096)
    big = intake(description="漏水" * 3000)  # ~18 kB of UTF-8
    payload = json.dumps(big).encode()
    assert len(payload) > 4096

    declared = await api.post("/cases", content=payload, headers=AGENT | {"Content-Type": "application/json"})
    problem = assert_problem(declared, 413, "Request body too large")
    assert "4096" in problem["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    streamed = await api.post("/cases", content=chunks(), headers=AGENT | {"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "Request body too large")

    # Under the limit, the request goes through, streamed or not.
    small = json.dumps(intake()).encode()

    async def small_chunks() -> AsyncIterator[bytes]:
        yield small[:100]
        yield small[100:]

    opened = await api.post("/cases", content=small_chunks(), headers=AGENT | {"Content-Type": "application/json"})
    assert opened.status_code == 201, opened.text
    # The default limit leaves room for an admin's calendar file (up to 200 kB of TOML).
    assert Settings().max_body_bytes > 200_000


async def test_a_caller_over_the_rate_is_429_with_retry_after(api_with: AppFactory) -> None:
    api = api_with(rate_limit="3/minute")
    for _ in range(3):
        assert (await api.get("/cases", params={"limit": 1}, headers=AGENT)).status_code == 200

    refused = await api.get("/cases", params={"limit": 1}, headers=AGENT)

    problem = assert_problem(refused, 429, "Too many requests")
    assert "3 per 1 minute" in problem["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The same person under another token is the same caller; the other callers are not slowed.
    assert (await api.get("/cases", headers=person("agent-li", "agent"))).status_code == 429
    assert (await api.get("/cases", params={"limit": 1}, headers=SUPERVISOR)).status_code == 200
    assert (await api.post("/cases", json=intake(), headers=ADMIN)).status_code == 201
    # Unauthenticated requests are refused before they count against anyone.
    assert (await api.get("/cases")).status_code == 401
    assert (await api.get("/healthz")).status_code == 200
