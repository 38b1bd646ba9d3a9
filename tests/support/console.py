"""The console in a real browser: the app (API + console) served on 127.0.0.1 against the test
session's Temporal server, worker and database; each person in their own browser context, signed
in by a one-time dev link, every request off 127.0.0.1 refused (no CDN)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from console.app import enable_dev_sign_in
from domain.case import Actor
from store.db import session_factory
from tests.support.browser import LOCAL, chromium_path, serving

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Route

    from tests.conftest import Database


@dataclass
class Console:
    base: str
    app: Any
    browser: Browser
    refused: list[str] = field(default_factory=list)

    async def person(self, actor: Actor, locale: str = "zh-CN") -> Page:
        context = await self.browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})

        async def only_local(route: Route) -> None:
            url = urlsplit(route.request.url)
            if url.scheme in ("data", "blob") or url.hostname in LOCAL:
                await route.continue_()
            else:
                self.refused.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_local)
        page = await context.new_page()
        token = self.app.state.console.dev.issue(actor)
        await page.goto(f"{self.base}/console/dev-sign-in/{token}")
        return page

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@asynccontextmanager
async def console_running(
    env: WorkflowEnvironment, database: Database, task_queue: str, **changes: Any
) -> AsyncIterator[Console]:
    """`changes`: settings on top of the tests' (a marketplace's credentials, say)."""
    from playwright.async_api import async_playwright

    from tests.conftest import app_settings

    settings = app_settings(database, task_queue, **changes)
    app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
    enable_dev_sign_in(app)
    chromium = chromium_path()
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        try:
            yield Console(base=base, app=app, browser=browser)
        finally:
            await browser.close()
