"""`/readyz` for Kubernetes: ready while the database and Temporal answer, 503 naming which one does not."""

from __future__ import annotations

from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from store.db import create_engine, session_factory
from tests.conftest import Database
from tests.support.people import TEST_JWT_SECRET


async def test_ready_when_the_database_and_temporal_answer(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")  # no credentials: the kubelet has none
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}


def _app(database_url: str, temporal: Client, sessions) -> httpx.AsyncClient:  # noqa: ANN001
    settings = Settings(database_url=database_url, jwt_secret=TEST_JWT_SECRET, rate_limit="")
    app = create_app(settings, temporal=temporal, sessions=sessions)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test")


async def test_not_ready_when_temporal_does_not_answer(database: Database) -> None:
    nobody = await Client.connect("127.0.0.1:9", lazy=True)  # the discard port: nothing answers there
    async with _app(database.url, nobody, session_factory(database.engine)) as api:
        response = await api.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["checks"] == {"database": "ok", "temporal": "unavailable"}
    assert body["detail"] == "Not taking traffic: temporal"


async def test_not_ready_when_the_database_does_not_answer(env: WorkflowEnvironment, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'cases.db'}"  # SQLite cannot create it
    engine = create_engine(url)
    try:
        async with _app(url, env.client, session_factory(engine)) as api:
            response = await api.get("/readyz")
            alive = await api.get("/healthz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "temporal": "ok"}
    assert alive.status_code == 200  # liveness does not follow the database: no restart storm in an outage
