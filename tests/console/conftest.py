"""A console served on a free port for headless Chromium, on the session's worker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from console.app import enable_dev_sign_in
from core.settings import Settings
from domain.case import Actor
from store.db import session_factory
from tests.conftest import Database
from tests.support.browser import offline_page, serving


@dataclass
class Console:
    base: str
    page: Any  # playwright.async_api.Page
    refused: list[str]
    dev: Any
    api: httpx.AsyncClient  # the same app, called as the API
    database: Database

    async def sign_in(self, actor: Actor) -> None:
        await self.page.goto(f"{self.base}/console/dev-sign-in/{self.dev.issue(actor)}")
        assert self.page.url.endswith("/console/")

    async def open(self, path: str) -> None:
        answer = await self.page.goto(self.base + path)
        assert answer is not None and answer.status == 200, path


@pytest.fixture
async def console(env: WorkflowEnvironment, database: Database, worker: str) -> AsyncIterator[Console]:
    settings = Settings(task_queue=worker, database_url=database.url, case_number_prefix=database.prefix)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    dev = enable_dev_sign_in(app)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://aftersales.test") as api,
        serving(app) as base,
        offline_page() as (page, refused),
    ):
        # As a browser set up in Chinese asks (Debian's chromium asks for en-US by default).
        await page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
        yield Console(base, page, refused, dev, api, database)
    assert refused == [], f"the console asked for something off this machine: {refused}"
