"""Headless Chromium for the tests that render a page: Debian's chromium driven by Playwright
(Playwright's own browser builds are a download this machine cannot make), and the app served
on a free 127.0.0.1 port for it to load."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import uvicorn

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

LOCAL = {"127.0.0.1"}


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        reason = "Debian's chromium package is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + ", and CI=true requires this test to run")
        pytest.skip(reason)
    return found


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """`app` (an ASGI app) served on a free 127.0.0.1 port; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    running = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            assert not running.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await running
        listener.close()


@asynccontextmanager
async def offline_page() -> AsyncIterator[tuple[Page, list[str]]]:
    """A page in headless Chromium whose every request off 127.0.0.1 is aborted and noted (the
    pages must work with no internet: no CDN). Fails under CI=true, skips elsewhere, when Debian's
    chromium is missing."""
    from playwright.async_api import async_playwright

    chromium = chromium_path()
    refused: list[str] = []

    async def only_local(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOCAL:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page()
            await page.route("**/*", only_local)
            yield page, refused
        finally:
            await browser.close()
