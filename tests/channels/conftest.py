"""The marketplace fixture: a fake Douyin Shop, our API on a real port pointed at it, and a
worker whose decision activity calls it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from channels.registry import adapters_from_settings
from channels.taobao.run import intake_from
from core.settings import Settings
from services.channel_intake import ChannelIntake
from store.channels import ChannelStore
from store.db import session_factory
from tests.conftest import Database
from tests.support.douyin import APP_KEY, APP_SECRET, FakeDouyin, fake_douyin, serve_api
from tests.support.workers import in_process_worker


@dataclass
class Marketplace:
    fake: FakeDouyin
    api: httpx.AsyncClient  # staff's calls, over HTTP to the same server the platform pushes to
    channels: ChannelStore
    database: Database
    intake: ChannelIntake  # the API's own intake service

    async def case_of(self, after_sale_id: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            number = await self.channels.case_of("douyin", after_sale_id)
            if number is not None:
                return number
            assert time.monotonic() < deadline, f"no case for after-sale {after_sale_id} after {timeout}s"
            await asyncio.sleep(0.05)

    async def events(self, number: str, kind: str) -> list[Any]:
        return [e for e in await self.database.store.timeline(number) if e.kind == kind]

    async def wait_events(self, number: str, kind: str, count: int = 1, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = await self.events(number, kind)
            if len(found) >= count:
                return found
            assert time.monotonic() < deadline, f"{number}: {len(found)} {kind} events after {timeout}s, wanted {count}"
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def douyin(env: WorkflowEnvironment, database: Database) -> AsyncIterator[Marketplace]:
    queue = f"douyin-{database.backend}"
    async with fake_douyin(push_url="") as fake:
        settings = Settings(
            task_queue=queue,
            database_url=database.url,
            case_number_prefix=database.prefix,
            douyin_app_key=APP_KEY,
            douyin_app_secret=APP_SECRET,
            douyin_api_url=fake.api_url,
        )
        app = create_app(settings, temporal=env.client, sessions=session_factory(database.engine))
        async with (
            in_process_worker(
                env.client, database.store, queue, marketplaces=dict(adapters_from_settings(settings)),
                intake=intake_from(settings, env.client, session_factory(database.engine)),
                workflow_failure_exception_types=[Exception],
            ),
            serve_api(app) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as api,
        ):  # fmt: skip
            fake.push_url = f"{url}/channels/douyin/events"
            intake = ChannelIntake(
                ChannelStore(session_factory(database.engine)),
                database.store,
                env.client,
                settings,
                app.state.sla_rules,
            )
            yield Marketplace(fake, api, ChannelStore(session_factory(database.engine)), database, intake)
