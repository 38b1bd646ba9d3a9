"""GET /metrics: open by default (no key, no rate limit, outside the OpenAPI schema); with
METRICS_TOKEN set it asks for that bearer token and refuses anything else with a problem document."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.db import session_factory
from tests.conftest import Database
from tests.support.observability import samples, total
from tests.support.people import TEST_JWT_SECRET


def _api(env: WorkflowEnvironment, database: Database, worker: str, **settings: object) -> httpx.AsyncClient:
    app = create_app(
        Settings(
            task_queue=worker,
            database_url=database.url,
            case_number_prefix=database.prefix,
            jwt_secret=TEST_JWT_SECRET,
            **settings,
        ),
        temporal=env.client,
        sessions=session_factory(database.engine),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test")


async def test_metrics_are_open_and_unlimited_by_default(
    env: WorkflowEnvironment, database: Database, worker: str
) -> None:
    async with _api(env, database, worker, rate_limit="1/minute") as api:
        for _ in range(3):
            response = await api.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
        assert "aftersales_open_cases" in response.text
        assert "/metrics" not in (await api.get("/openapi.json")).json()["paths"]


async def test_a_metrics_token_is_asked_for(env: WorkflowEnvironment, database: Database, worker: str) -> None:
    async with _api(env, database, worker, metrics_token="scrape-me", rate_limit="") as api:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "scrape-me"}):
            refused = await api.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "scrape-me" not in refused.text
        allowed = await api.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert allowed.status_code == 200 and "http_requests_total" in allowed.text


async def test_a_request_refused_before_the_routes_is_counted_too(
    env: WorkflowEnvironment, database: Database, worker: str
) -> None:
    async with _api(env, database, worker, max_body_bytes=100, rate_limit="") as api:
        assert (await api.post("/cases", content=b"x" * 1000)).status_code == 413
        served = samples((await api.get("/metrics")).text)
    assert total(served, "http_requests_total", handler="/cases", method="POST", status="4xx") == 1
