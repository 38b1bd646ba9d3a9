"""/docs and /redoc work with no internet: headless Chromium (Debian's, driven by Playwright)
may reach only the app on 127.0.0.1, and both pages list every operation of the API.

Issue 12 §2.9: FastAPI's default pages load Swagger UI and ReDoc from a CDN, which cannot be
reached here (nor reliably from mainland China): /docs was blank.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.app import create_app
from core.settings import Settings
from tests.support.browser import offline_page, serving  # fails rather than skips under CI=true


@asynccontextmanager
async def _serving() -> AsyncIterator[tuple[str, int]]:
    """The app on a free 127.0.0.1 port, and how many operations it has; the docs need neither
    Temporal nor the database."""
    app = create_app(Settings())
    async with serving(app) as base:
        yield base, len(_operations(app.openapi()))


def _operations(schema: dict) -> list[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [(m, path) for path, item in schema["paths"].items() for m in item if m in methods]


async def test_swagger_ui_lists_every_operation_with_no_network() -> None:
    async with _serving() as (base, operations), offline_page() as (page, refused):
        response = await page.goto(f"{base}/docs")
        assert response is not None and response.ok
        await page.wait_for_selector(".opblock-summary", timeout=30_000)
        paths = await page.locator(".opblock-summary-path").evaluate_all("els => els.map(e => e.dataset.path)")
        title = await page.locator(".info .title").first.inner_text()
    assert refused == [], "the docs page tried to reach the internet"
    assert title.startswith("Aftersales")
    assert len(paths) == operations
    for path in ("/cases", "/cases/{number}/triage", "/reports/monthly", "/healthz"):
        assert path in paths


async def test_redoc_lists_every_operation_with_no_network() -> None:
    async with _serving() as (base, operations), offline_page() as (page, refused):
        response = await page.goto(f"{base}/redoc")
        assert response is not None and response.ok
        await page.wait_for_selector('[data-section-id^="operation/"]', timeout=30_000)
        sections = await page.locator('[id^="operation/"]').count()
        text = await page.locator("body").inner_text()
    assert refused == [], "the ReDoc page tried to reach the internet"
    assert sections == operations
    assert "/reports/monthly" in text and "/cases/{number}/triage" in text
