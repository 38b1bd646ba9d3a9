"""`aftersales tmc`: the Taobao TMC consumer on its own (set WORKER_RUNS_TMC=false on the workers then)."""

from __future__ import annotations

import asyncio
import contextlib

import typer

from cli.common import (
    TemporalAddress,
    TemporalUnreachable,
    configure_logging,
    connect_temporal,
    temporal_settings,
    unreachable,
)


def tmc(temporal_address: TemporalAddress = None) -> None:
    """Consume Taobao's TMC messages (TAOBAO_APP_KEY, TAOBAO_APP_SECRET) into cases at DATABASE_URL."""
    from worker import configured_platforms, run_tmc

    settings = temporal_settings(temporal_address)
    configure_logging(settings)
    if "taobao" not in configured_platforms(settings):
        typer.echo("error: set TAOBAO_APP_KEY and TAOBAO_APP_SECRET to consume Taobao's messages", err=True)
        raise typer.Exit(1)

    async def run() -> None:
        await run_tmc(settings, await connect_temporal(settings))

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    except TemporalUnreachable:
        raise unreachable(settings) from None
