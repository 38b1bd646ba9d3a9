"""What the `aftersales` commands share: Temporal options and connection, logging, a store on DATABASE_URL.

The commands read the settings through `common.get_settings()`, one name a test can replace."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from core.settings import Settings, get_settings

# The commands that talk to Temporal take its address and UI like `aftersales dev` names them.
TemporalAddress = Annotated[
    str | None,
    typer.Option(
        "--temporal-address",
        envvar="TEMPORAL_ADDRESS",
        help="Temporal's gRPC address, e.g. 127.0.0.1:7233",
        show_default=False,
    ),
]
UiUrl = Annotated[
    str | None,
    typer.Option(
        "--ui-url",
        envvar="TEMPORAL_UI_URL",
        help="Temporal UI, for links, e.g. http://127.0.0.1:8233",
        show_default=False,
    ),
]


def temporal_settings(address: str | None, ui_url: str | None = None) -> Settings:
    update = {k: v for k, v in {"temporal_address": address, "temporal_ui_url": ui_url}.items() if v}
    return get_settings().model_copy(update=update)


class TemporalUnreachable(Exception):
    """Nothing answered at the Temporal address."""


async def connect_temporal(settings: Settings, runtime=None):  # noqa: ANN001, ANN202 - temporalio Runtime, Client
    from core.temporal_client import TemporalSettingsError, connect

    try:
        return await connect(settings, runtime=runtime)
    except TemporalSettingsError as error:  # a TLS file that cannot be read: one line, not a traceback
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except RuntimeError as error:  # the SDK's "Failed client connect: ..."
        raise TemporalUnreachable(str(error)) from None


def unreachable(settings: Settings) -> typer.Exit:
    typer.echo(
        f"error: nothing answers at Temporal {settings.temporal_address} (namespace {settings.temporal_namespace}); "
        "start `aftersales dev` or pass --temporal-address / set TEMPORAL_ADDRESS",
        err=True,
    )
    return typer.Exit(1)


def configure_logging(settings: Settings) -> None:
    from core.logs import configure_logging as configure

    configure(settings.log_level, settings.log_format)


def with_store(store_type, work):  # noqa: ANN001, ANN202 - a store class; async (store) -> T; returns T
    """Run `work` against a store on the database at DATABASE_URL (which `aftersales migrate` prepared)."""
    from sqlalchemy.exc import DBAPIError

    from store.db import create_engine, session_factory

    settings = get_settings()

    async def run():  # noqa: ANN202
        engine = create_engine(settings.effective_database_url)
        try:
            return await work(store_type(session_factory(engine)))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DBAPIError as error:
        typer.echo(
            f"error: the database is not ready ({type(error.orig).__name__}); run `aftersales migrate`", err=True
        )
        raise typer.Exit(1) from None


async def retention_schedule(client, settings: Settings) -> str:  # noqa: ANN001 - temporalio Client
    """The daily anonymisation of expired cases (README: Personal data), created or updated."""
    from core.temporal_setup import ensure_retention_schedule

    return await ensure_retention_schedule(
        client,
        schedule_id=settings.retention_schedule_id,
        task_queue=settings.task_queue,
        years=settings.retention_years,
        timezone=settings.business_timezone,
    )


async def reconcile_schedule(client, settings: Settings) -> str:  # noqa: ANN001 - temporalio Client
    """The marketplace reconciliation (README: Marketplaces), for the platforms configured here."""
    from core.temporal_setup import ensure_reconcile_schedule
    from worker import configured_platforms

    return await ensure_reconcile_schedule(
        client,
        schedule_id=settings.reconcile_schedule_id,
        task_queue=settings.task_queue,
        platforms=configured_platforms(settings, listing=True),
        every_minutes=settings.reconcile_every_minutes,
        window_minutes=settings.reconcile_window_minutes,
    )
