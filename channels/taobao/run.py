"""The TMC consumer wired to the intake, as the worker (beside its polling) and `aftersales tmc` run it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from channels.taobao import adapter_from_settings, taobao_configured
from channels.taobao.consumer import TmcConsumer
from core.settings import Settings
from services.channel_intake import ChannelIntake
from services.sla_rules import SlaRulebook
from store.cases import CaseStore
from store.channels import ChannelStore
from store.rules import RulesStore


def intake_from(settings: Settings, client: Client, sessions: async_sessionmaker[AsyncSession]) -> ChannelIntake:
    """The intake the HTTP endpoint uses, built for a process without the API."""
    cases = CaseStore(sessions, settings.case_number_prefix)
    return ChannelIntake(
        ChannelStore(sessions), cases, client, settings, SlaRulebook(RulesStore(sessions), settings.calendar_file)
    )


def consumer_from_settings(
    settings: Settings, client: Client, sessions: async_sessionmaker[AsyncSession]
) -> TmcConsumer:
    assert settings.taobao_app_key and settings.taobao_app_secret is not None
    return TmcConsumer(
        adapter_from_settings(settings),
        intake_from(settings, client, sessions),
        app_key=settings.taobao_app_key,
        secret=settings.taobao_app_secret.get_secret_value(),
        group=settings.taobao_tmc_group,
        url=settings.taobao_tmc_url,
    )


@contextlib.asynccontextmanager
async def tmc_consumer(
    settings: Settings, client: Client, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[TmcConsumer | None]:
    """The consumer as a task of its own beside the worker, when Taobao is configured (None otherwise)."""
    if not taobao_configured(settings):
        yield None
        return
    consumer = consumer_from_settings(settings, client, sessions)
    task = asyncio.create_task(consumer.run(), name="tmc-consumer")
    logging.getLogger(__name__).info("consuming Taobao TMC messages from %s", settings.taobao_tmc_url)
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
