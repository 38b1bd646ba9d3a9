"""One person at the console at a time, on the console fixture (tests/support/console.py), with the
same app reachable as the API (to open cases for the pages to find) and the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from domain.case import Actor
from tests.conftest import Database
from tests.support.console import Console


@dataclass
class Desk:
    console: Console
    api: httpx.AsyncClient
    database: Database
    page: Any = None  # playwright.async_api.Page of the person signed in last

    @property
    def base(self) -> str:
        return self.console.base

    async def sign_in(self, actor: Actor) -> None:
        self.page = await self.console.person(actor)
        assert self.page.url.endswith("/console/")

    async def open(self, path: str) -> None:
        answer = await self.page.goto(self.base + path)
        assert answer is not None and answer.status == 200, path


@pytest.fixture
async def desk(console: Console, database: Database) -> AsyncIterator[Desk]:
    transport = httpx.ASGITransport(app=console.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aftersales.test") as api:
        yield Desk(console, api, database)
    assert console.refused == [], f"the console asked for something off this machine: {console.refused}"
