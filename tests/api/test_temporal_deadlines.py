"""A frozen Temporal server: every route that calls it answers 503 with Retry-After within the
configured deadline, and a repeat with the same Idempotency-Key after the thaw acts once.

The test starts its own dev server (not the session's: it is stopped with SIGSTOP, which
would freeze every other test) from the venv's `temporal` binary on free ports, with a worker
and the API on it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.client import Client

from api.app import create_app
from cli.devserver import DevServer
from core.settings import Settings
from store.cases import CaseStore
from store.db import session_factory
from tests.conftest import Database
from tests.support.devrun import free_port
from tests.support.people import ADMIN, AGENT, TRIAGE, intake
from tests.support.workers import in_process_worker

DEADLINE = 2.0  # seconds: temporal_timeout_seconds and case_query_timeout_seconds here
SLACK = 3.0  # the deadline's own margin (1 s) and a loaded machine's


@asynccontextmanager
async def running(settings: Settings, database: Database) -> AsyncIterator[tuple[httpx.AsyncClient, Client, DevServer]]:
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    async with DevServer(settings.data_dir, port, free_port()) as server:
        client = await server.connect(settings)
        sessions = session_factory(database.engine)
        app = create_app(settings, temporal=client, sessions=sessions)
        async with in_process_worker(client, CaseStore(sessions, settings.case_number_prefix), settings.task_queue):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test", timeout=120
            ) as api:
                try:
                    yield api, client, server
                finally:
                    os.kill(server._process.pid, signal.SIGCONT)  # noqa: SLF001 - never leave it frozen


async def timed(request: asyncio.Future[httpx.Response] | object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request  # type: ignore[misc]
    return response, time.monotonic() - started


async def after_thaw(api: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> httpx.Response:
    """The same request again once Temporal answers (the first tries after SIGCONT may still be 503)."""
    for _ in range(60):
        response = await api.request(method, url, **kwargs)  # type: ignore[arg-type]
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.5)
    raise AssertionError(f"{method} {url} still 503 after the thaw: {response.text}")


async def kinds(api: httpx.AsyncClient, number: str) -> list[str]:
    response = await api.get(f"/cases/{number}/timeline", headers=AGENT)
    return [event["kind"] for event in response.json()]


async def test_a_frozen_temporal_is_503_within_the_deadline_and_a_repeat_acts_once(
    database: Database, tmp_path: Path
) -> None:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "frozen",
        database_url=database.url,
        task_queue=f"frozen-{database.backend}",
        case_number_prefix=database.prefix,
        temporal_address=f"127.0.0.1:{port}",
        temporal_timeout_seconds=DEADLINE,
        case_query_timeout_seconds=DEADLINE,
    )
    async with running(settings, database) as (api, _, server):
        opened = await api.post("/cases", json=intake(), headers=AGENT)
        assert opened.status_code == 201, opened.text
        number = opened.json()["number"]

        os.kill(server._process.pid, signal.SIGSTOP)  # noqa: SLF001
        open_key = {"Idempotency-Key": f"frozen-open-{number}"}
        triage_key = {"Idempotency-Key": f"frozen-triage-{number}"}
        results = await asyncio.gather(
            timed(api.post("/cases", json=intake(), headers=AGENT | open_key)),
            timed(api.post(f"/cases/{number}/triage", json=TRIAGE, headers=AGENT | triage_key)),
            timed(api.get("/ops/stuck", headers=ADMIN)),
            timed(api.get(f"/cases/{number}", headers=AGENT)),
        )
        for (response, elapsed), route in zip(
            results, ["POST /cases", "triage", "/ops/stuck", "GET /cases/{n}"], strict=True
        ):
            assert response.status_code == 503, f"{route}: {response.status_code} {response.text}"
            assert response.headers["content-type"] == "application/problem+json", route
            assert response.json()["title"] == "Temporarily unavailable", route
            assert int(response.headers["Retry-After"]) > 0, route
            assert elapsed < DEADLINE + SLACK, f"{route} took {elapsed:.1f} s"
        os.kill(server._process.pid, signal.SIGCONT)  # noqa: SLF001

        # The same keys once Temporal answers: one case opened, the case triaged once.
        reopened = await after_thaw(api, "POST", "/cases", json=intake(), headers=AGENT | open_key)
        assert reopened.status_code == 201, reopened.text
        again = await api.post("/cases", json=intake(), headers=AGENT | open_key)
        assert again.json()["number"] == reopened.json()["number"]
        triaged = await after_thaw(api, "POST", f"/cases/{number}/triage", json=TRIAGE, headers=AGENT | triage_key)
        assert triaged.status_code == 200 and triaged.json()["stage"] == "triaged", triaged.text
        repeat = await api.post(f"/cases/{number}/triage", json=TRIAGE, headers=AGENT | triage_key)
        assert repeat.status_code == 200 and repeat.headers.get("Idempotent-Replayed") == "true"
        for _ in range(40):  # the record trails the action by a moment
            if "triaged" in await kinds(api, number):
                break
            await asyncio.sleep(0.25)
        assert (await kinds(api, number)).count("triaged") == 1
        assert (await kinds(api, reopened.json()["number"])).count("received") == 1
