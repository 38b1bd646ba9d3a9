"""`aftersales report`: the monthly quality report as terminal tables or JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from cli import common


def report(
    month: Annotated[str, typer.Option(help="Calendar month in the business timezone, YYYY-MM")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables")] = False,
) -> None:
    """The monthly quality report from the database at DATABASE_URL, as terminal tables."""
    from domain.report import Month
    from store.db import create_engine, session_factory
    from store.reports import ReportStore

    try:
        wanted = Month.parse(month)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--month") from None
    settings = common.get_settings()

    async def run():  # noqa: ANN202 - MonthlyReport
        engine = create_engine(settings.effective_database_url)
        try:
            return await ReportStore(session_factory(engine)).monthly(wanted, settings.business_timezone)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _print_report(result)


def _print_report(report) -> None:  # noqa: ANN001 - domain.report.MonthlyReport
    from rich.console import Console
    from rich.table import Table

    from domain.report import comparison_table, number, percent

    console = Console()
    now, before = report.current, report.previous

    def table(title: str, head: list[str], rows: Sequence[tuple[Any, ...]], empty: str = "none this month") -> None:
        grid = Table(title=title, title_justify="left")
        for index, name in enumerate(head):
            grid.add_column(name, justify="left" if index == 0 else "right")
        for row in rows:
            grid.add_row(*row)
        if not rows:
            grid.add_row(empty, *[""] * (len(head) - 1))
        console.print(grid)

    def key(value: str | None) -> str:
        return value if value is not None else "none (before triage)"

    console.print(
        f"[bold]Monthly quality report {report.month}[/bold]: {now.first_day} to {now.last_day} on the business "
        f"calendar ({report.timezone}), compared with {before.month} ({before.first_day} to {before.last_day})"
    )
    table(
        "Targets",
        ["figure", "target", "actual", "status"],
        [
            (
                t.label,
                f">= {percent(t.target)}",
                percent(t.actual) if t.actual is not None else "no data" if t.tracked else "not tracked yet",
                "met" if t.met else "missed" if t.met is False else "not measured",
            )
            for t in report.targets
        ],
    )
    table(
        "Comparison with the previous month",
        ["figure", now.month, before.month, "change"],
        comparison_table(report),
    )
    table(
        "Distribution by category",
        ["category", "cases", "share"],
        [(c.category, str(c.cases), percent(c.share)) for c in now.categories]
        + ([("not triaged yet", str(now.uncategorized), "")] if now.uncategorized else []),
    )
    table(
        "Top recurring problems (category x product)",
        ["category", "product SKU", "cases"],
        [(p.category, p.sku, str(p.cases)) for p in now.top_problems],
        "no problem recurred",
    )
    table(
        "On time per SLA clock",
        ["clock", "on time", "missed", "rate", f"rate {before.month}"],
        [
            (c.clock, str(c.on_time), str(c.missed), percent(c.rate), percent(before.clock(c.clock).rate))
            for c in now.on_time
        ],
    )
    table(
        "Satisfaction and reopens",
        ["figure", "value"],
        [
            ("survey answers", str(now.satisfaction.answers)),
            ("average score", number(now.satisfaction.average_score, "score")),
            ("satisfied share", percent(now.satisfaction.satisfied_share)),
            ("first-contact resolution", percent(now.first_contact_resolution.rate)),
            ("reopened cases", f"{now.reopens.reopened_cases} of {now.reopens.cases_received}"),
            ("reopen rate", percent(now.reopens.rate)),
            ("reopenings in the month", str(now.reopens.reopen_events)),
            ("average first reply (min)", number(now.first_reply.average_minutes, "minutes")),
            ("average resolution (h)", number(now.resolution.average_hours, "hours")),
        ],
    )
    for title, head, counts in (
        ("SLA breaches by department", "department", now.breaches_by_department),
        ("SLA breaches by responsible role", "role", now.breaches_by_role),
        ("Volume by channel", "channel", now.channels),
    ):
        table(title, [head, "count"], [(key(c.key), str(c.count)) for c in counts])
    console.print(f"First-contact resolution: {now.first_contact_resolution.note}.")
