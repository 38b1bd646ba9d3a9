"""A console click that meets the API's error handling (a Temporal deadline, the per-person rate
limit) gets the console's page in the person's language, never problem+json; the API's own
paths still answer JSON. Real API, worker, dev server and database; the console's app is given
a case query deadline no worker can meet and a rate of one action a minute."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from console.app import enable_dev_sign_in
from console.session import COOKIE
from store.db import session_factory
from tests.conftest import Database, app_settings
from tests.support.api import open_and_triage
from tests.support.people import AGENT, AGENT_ACTOR


@pytest.fixture
async def impatient(
    env: WorkflowEnvironment, database: Database, worker: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = app_settings(
        database,
        worker,
        rate_limit="1/minute",
        case_query_timeout_seconds=0.001,  # no worker answers a query this fast: the API's 503
    )
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    dev = enable_dev_sign_in(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        answer = await client.get(f"/console/dev-sign-in/{dev.issue(AGENT_ACTOR)}")
        assert answer.status_code == 303, answer.text
        yield client, app


def _is_page(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("text/html"), answer.headers["content-type"]
    assert "problem+json" not in answer.headers["content-type"]
    return re.sub(r"\s+", " ", answer.text)


async def test_a_temporal_deadline_and_the_rate_limit_show_the_consoles_page(
    api: httpx.AsyncClient, impatient: tuple[httpx.AsyncClient, Any]
) -> None:
    client, app = impatient
    number = (await open_and_triage(api))["number"]

    waited = await client.get(f"/console/cases/{number}")
    assert waited.status_code == 503
    text = _is_page(waited)
    assert "<h1>暂时无法处理</h1>" in text and "工单或工作流服务未能及时响应" in text
    assert '<html lang="zh' in text and waited.headers["retry-after"] == "5"
    english = _is_page(await client.get(f"/console/cases/{number}", headers={"Accept-Language": "en"}))
    assert "<h1>Temporarily unavailable</h1>" in english and "did not answer in time" in english

    # An action: the first takes the minute's one request (and meets the deadline), the second the limit.
    csrf = app.state.console.signer.decode(client.cookies.get(COOKIE)).csrf
    form = {"csrf_token": csrf, "idempotency_key": "problem-page-0001", "text": "called the customer"}
    first = await client.post(f"/console/cases/{number}/actions/note", data=form)
    assert first.status_code == 503 and "暂时无法处理" in _is_page(first)
    limited = await client.post(f"/console/cases/{number}/actions/note", data=form)
    assert limited.status_code == 429
    text = _is_page(limited)
    seconds = limited.headers["retry-after"]
    assert "<h1>请求过于频繁</h1>" in text and f"请等待 {seconds} 秒后再提交" in text
    assert "more than 1 per 1 minute" in text  # the problem's own words, under 详情

    # The API's paths answer as before: problem+json (the same person, so the same spent limit).
    api_answer = await client.get(f"/cases/{number}", headers=AGENT)
    assert api_answer.status_code == 429
    assert api_answer.headers["content-type"] == "application/problem+json"
