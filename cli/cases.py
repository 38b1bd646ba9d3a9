"""`aftersales temporal setup`, `aftersales cases stuck` and `aftersales demo`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from cli import common
from cli.common import TemporalAddress, TemporalUnreachable, UiUrl, connect_temporal, temporal_settings, unreachable

temporal_cli = typer.Typer(help="Prepare a Temporal cluster for the cases.", no_args_is_help=True)


@temporal_cli.command("setup")
def setup_temporal(temporal_address: TemporalAddress = None) -> None:
    """Register the search attributes on TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE; does nothing if they exist."""
    from core.temporal_setup import SearchAttributeConflict, register_search_attributes

    settings = temporal_settings(temporal_address)

    async def run():  # noqa: ANN202 - tuple[SetupResult, str, str]
        client = await connect_temporal(settings)
        result = await register_search_attributes(client, settings.temporal_namespace)
        return (
            result,
            await common.retention_schedule(client, settings),
            await common.reconcile_schedule(client, settings),
        )

    try:
        result, schedule, reconcile = asyncio.run(run())
    except SearchAttributeConflict as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except TemporalUnreachable:
        raise unreachable(settings) from None
    if result.added:
        typer.echo(f"namespace {result.namespace}: added {', '.join(result.added)}")
    if result.existing:
        typer.echo(f"namespace {result.namespace}: already there: {', '.join(result.existing)}")
    typer.echo(f"namespace {result.namespace}: retention schedule {settings.retention_schedule_id} {schedule}")
    if reconcile != "none":
        typer.echo(
            f"namespace {result.namespace}: reconciliation schedule {settings.reconcile_schedule_id} {reconcile}"
        )


cases_cli = typer.Typer(help="Cases, from the terminal.", no_args_is_help=True)


@cases_cli.command("stuck")
def stuck_cases(
    hours: Annotated[float, typer.Option(help="A case in one stage longer than this many hours is stuck")] = 24,
    limit: Annotated[int, typer.Option(help="Show at most this many cases", min=1, max=500)] = 50,
    temporal_address: TemporalAddress = None,
    ui_url: UiUrl = None,
) -> None:
    """Cases that are breached, waiting for approval, in one stage too long or failing an activity."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.table import Table

    from services.stuck import find_stuck, format_duration, temporal_ui_link
    from store.db import create_engine, session_factory
    from store.ops import OpsStore

    settings = temporal_settings(temporal_address, ui_url)
    zone = ZoneInfo(settings.business_timezone)

    async def run():  # noqa: ANN202 - StuckReport
        engine = create_engine(settings.effective_database_url)
        try:
            client = await connect_temporal(settings)
            return await find_stuck(
                OpsStore(session_factory(engine)), client, in_stage_longer_than=timedelta(hours=hours), limit=limit,
                rpc_timeout=timedelta(seconds=settings.temporal_timeout_seconds),
            )  # fmt: skip
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except TemporalUnreachable:
        raise unreachable(settings) from None
    table = Table(
        title=f"Stuck cases: {len(report.items)} of {report.total} "
        f"(breached, awaiting approval, in one stage > {hours:g} h, an open task, an overdue contribution or a failing activity)",
        title_justify="left",
    )
    for column in ("case", "stage", "pri", "department", "why", "in stage", "next deadline", "Temporal UI"):
        table.add_column(column, overflow="fold")
    for case in report.items:
        why = "\n".join(_stuck_reason(reason, hours) for reason in case.reasons)
        if case.failing_activity:
            why += f"\n{case.failing_activity}"
        deadline = case.next_deadline.astimezone(zone).strftime("%Y-%m-%d %H:%M") if case.next_deadline else "-"
        table.add_row(
            case.number, case.stage, case.priority or "-", case.department or "-", why,
            format_duration(report.as_of - case.in_stage_since), deadline, temporal_ui_link(settings, case.number),
        )  # fmt: skip
    Console().print(table)


def _stuck_reason(reason, hours: float) -> str:  # noqa: ANN001 - store.ops.StuckReason
    from store.ops import StuckReason

    return {
        StuckReason.BREACHED: "breached (a deadline missed)",
        StuckReason.AWAITING_APPROVAL: "awaiting approval",
        StuckReason.IN_STAGE_TOO_LONG: f"in stage > {hours:g} h",
        StuckReason.ACTIVITY_FAILING: "activity failing",
        StuckReason.FOLLOW_UP_TASK: "follow-up task open",
        StuckReason.CALL_BACK_TASK: "call-back open",
        StuckReason.CONTRIBUTION_OVERDUE: "contribution overdue",
    }.get(reason, str(reason))


def demo(
    cases: Annotated[int, typer.Option(help="How many cases to open", min=1, max=1000)] = 30,
    seed: Annotated[int, typer.Option(help="The same seed gives the same cases")] = 7,
    api_url: Annotated[str, typer.Option(help="The running API")] = "http://127.0.0.1:8000",
    breaches: Annotated[
        bool, typer.Option(help="Briefly pin a demo SLA policy so that some cases breach within a minute")
    ] = True,
    breach_after: Annotated[float, typer.Option(help="Seconds the demo policy gives the breaching cases", min=5)] = 45,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the demo people's API keys are kept (default: DATA_DIR, .aftersales)")
    ] = None,
) -> None:
    """Drive realistic cases through the API (run `aftersales dev` first). For demo installations only.

    The demo's people act with API keys of their own, created in the database at
    DATABASE_URL (the API's) the first time and reused from DATA_DIR/demo-keys.json."""
    from datetime import timedelta

    import httpx

    from cli.demo import DemoError, demo_credentials, run_demo
    from store.apikeys import ApiKeyStore
    from store.db import create_engine, session_factory

    settings = common.get_settings()

    async def run():  # noqa: ANN202 - DemoResult
        engine = create_engine(settings.effective_database_url)
        try:
            keys = ApiKeyStore(session_factory(engine))
            credentials = await demo_credentials(keys, (data_dir or settings.data_dir) / "demo-keys.json")
        finally:
            await engine.dispose()
        async with httpx.AsyncClient(base_url=api_url, timeout=60) as client:
            return await run_demo(
                client, cases, credentials=credentials, seed=seed, breaches=breaches,
                breach_after=timedelta(seconds=breach_after), echo=typer.echo,
            )  # fmt: skip

    try:
        result = asyncio.run(run())
    except (DemoError, httpx.HTTPError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{len(result.cases)} cases opened through {api_url}.")
    if result.not_breached:
        typer.echo(f"not breached yet: {', '.join(result.not_breached)}")
    typer.echo("See them in Temporal UI, with `aftersales cases stuck`, and in GET /cases.")
