"""The `aftersales` command: dev (everything in one), worker, api, migrate, apikey."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from settings import Settings, get_settings

app = typer.Typer(help="Aftersales: after-sales cases as durable Temporal workflows.", no_args_is_help=True)


class _ApiServer(uvicorn.Server):
    """Uvicorn re-raises Ctrl-C after serving; `dev` must still stop the worker and
    the Temporal server cleanly, so it owns the signals and only asks uvicorn to exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(self, "should_exit", True))
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


# The commands that talk to Temporal take its address and UI like `aftersales dev` names them.
TemporalAddress = Annotated[
    str | None,
    typer.Option("--temporal-address", envvar="TEMPORAL_ADDRESS", help="Temporal's gRPC address, e.g. 127.0.0.1:7233", show_default=False),
]
UiUrl = Annotated[
    str | None,
    typer.Option("--ui-url", envvar="TEMPORAL_UI_URL", help="Temporal UI, for links, e.g. http://127.0.0.1:8233", show_default=False),
]


def _temporal_settings(address: str | None, ui_url: str | None = None) -> Settings:
    update = {k: v for k, v in {"temporal_address": address, "temporal_ui_url": ui_url}.items() if v}
    return get_settings().model_copy(update=update)


class TemporalUnreachable(Exception):
    """Nothing answered at the Temporal address."""


async def _connect(settings: Settings):  # noqa: ANN202 - temporalio Client
    from temporal_client import connect

    try:
        return await connect(settings)
    except RuntimeError as error:  # the SDK's "Failed client connect: ..."
        raise TemporalUnreachable(str(error)) from None


def _unreachable(settings: Settings) -> typer.Exit:
    typer.echo(
        f"error: nothing answers at Temporal {settings.temporal_address} (namespace {settings.temporal_namespace}); "
        "start `aftersales dev` or pass --temporal-address / set TEMPORAL_ADDRESS",
        err=True,
    )
    return typer.Exit(1)


def _logging(settings: Settings) -> None:
    from logs import configure_logging

    configure_logging(settings.log_level)


@app.command()
def dev(
    api_port: Annotated[int, typer.Option(help="Port of the HTTP API")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Port of the Temporal dev server (gRPC)")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Port of Temporal UI")] = 8233,
    data_dir: Annotated[Path, typer.Option(help="Where Temporal's state and the SQLite database live")] = Path(
        ".aftersales"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    encrypt_payloads: Annotated[
        bool,
        typer.Option(
            help="Encrypt what Temporal stores (customers' names, phones, complaints) with a key kept in "
            "DATA_DIR/codec-keys, made the first time; Temporal UI still shows it decoded"
        ),
    ] = False,
) -> None:
    """Start the Temporal dev server (with UI), the worker and the API in one process. Ctrl-C stops all."""
    from codec import ensure_key_file
    from devserver import PortInUse, refuse_taken_ports

    try:  # before anything starts: a server already there would silently serve this run
        refuse_taken_ports(host, {"--temporal-port": temporal_port, "--ui-port": ui_port, "--api-port": api_port})
    except PortInUse as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    update: dict[str, object] = {
        "data_dir": data_dir,
        "temporal_address": f"{host}:{temporal_port}",
        "temporal_ui_url": f"http://{host}:{ui_port}",
    }
    settings = get_settings()
    key_file = None
    if encrypt_payloads and settings.codec() is None:  # keys configured in the environment win
        from pydantic import SecretStr

        key_file = data_dir / "codec-keys"
        update["codec_keys"] = SecretStr(ensure_key_file(key_file))
    settings = settings.model_copy(update=update)
    _logging(settings)
    try:
        asyncio.run(_dev(settings, host, api_port, temporal_port, ui_port, key_file))
    except KeyboardInterrupt:
        pass
    except PortInUse as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _privacy_line(settings: Settings, key_file: Path | None) -> str:
    if settings.codec() is None:
        return (
            "  Personal data: NOT ENCRYPTED. Temporal's history (and Temporal UI's Input panels) holds customers'\n"
            "               names, phones and complaints in clear; run with --encrypt-payloads to encrypt it.\n"
        )
    where = f"key in {key_file}" if key_file else "keys from AFTERSALES_CODEC_KEYS"
    return f"  Payloads     encrypted ({where}); Temporal UI shows them decoded through the API's /codec\n"


async def _dev(
    settings: Settings, host: str, api_port: int, temporal_port: int, ui_port: int, key_file: Path | None = None
) -> None:
    from api.app import create_app
    from delivery.resolutions import executor_from_settings
    from devserver import DevServer
    from store.apikeys import ApiKeyStore, ensure_dev_keys
    from store.cases import CaseStore
    from store.db import create_engine, session_factory
    from store.migrate import upgrade
    from worker import build_worker, outbox_dispatcher

    codec_endpoint = f"http://{host}:{api_port}/codec" if settings.codec() else None
    async with DevServer(settings.data_dir, temporal_port, ui_port, ip=host, ui_codec_endpoint=codec_endpoint) as server:
        client = await server.connect(settings)
        await _retention_schedule(client, settings)
        engine = create_engine(settings.effective_database_url)
        await upgrade(engine)
        sessions = session_factory(engine)
        store = CaseStore(sessions, settings.case_number_prefix)
        keys_file = settings.data_dir / "dev-keys.json"
        keys = await ensure_dev_keys(ApiKeyStore(sessions), keys_file)
        api = _ApiServer(
            uvicorn.Config(
                # On this run Temporal UI is the operator's (no sign-in of its own): it gets payloads decoded.
                create_app(settings, temporal=client, sessions=sessions, ui_codec_trusted=codec_endpoint is not None),
                host=host, port=api_port, log_level="info",
            )
        )  # fmt: skip
        async with (
            build_worker(
                client,
                store,
                settings.task_queue,
                triage_rules=settings.triage_rules(),
                triage_rules_cache_seconds=settings.triage_rules_cache_seconds,
                executor=executor_from_settings(settings),
                route_attempts=settings.execution_route_attempts,
                max_cached_workflows=settings.worker_cached_cases,
            ),
            outbox_dispatcher(settings, sessions),
        ):
            typer.echo(
                f"\nAftersales is running (data in {settings.data_dir.resolve()}):\n"
                f"  API          http://{host}:{api_port}   (docs: http://{host}:{api_port}/docs)\n"
                f"  Temporal UI  {server.ui_url}/namespaces/{settings.temporal_namespace}/workflows\n"
                f"  Temporal     {server.address}   (server pid {server.pid})\n"
                + _privacy_line(settings, key_file)
                + f"  Report page  http://{host}:{api_port}/reports/monthly.html   (sign in with a supervisor's or the head's key)\n"
                f"API keys for development (send as X-API-Key; also in {keys_file}):\n"
                + "".join(f"  {role:<18}{key}\n" for role, key in keys.items())
                + "Press Ctrl-C to stop.\n"
            )
            await api.serve()
        await engine.dispose()


@app.command()
def worker(temporal_address: TemporalAddress = None) -> None:
    """Run the case worker against TEMPORAL_ADDRESS and DATABASE_URL."""
    from worker import run_worker

    settings = _temporal_settings(temporal_address)
    _logging(settings)

    async def run() -> None:
        await run_worker(settings, await _connect(settings))

    try:
        asyncio.run(run())
    except TemporalUnreachable:
        raise _unreachable(settings) from None


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    temporal_address: TemporalAddress = None,
    ui_url: UiUrl = None,
) -> None:
    """Serve the HTTP API against TEMPORAL_ADDRESS and DATABASE_URL."""
    from api.app import create_app

    settings = _temporal_settings(temporal_address, ui_url)
    _logging(settings)
    try:  # say so in one line now rather than as a failed startup's traceback
        asyncio.run(_connect(settings))
    except TemporalUnreachable:
        raise _unreachable(settings) from None
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())


@app.command()
def migrate() -> None:
    """Bring the database at DATABASE_URL (or the SQLite default) to the latest schema."""
    from store.db import create_engine
    from store.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        engine = create_engine(settings.effective_database_url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(run())
    typer.echo("database is at the latest schema")


apikey_cli = typer.Typer(help="API keys for services calling the API (header X-API-Key).", no_args_is_help=True)
app.add_typer(apikey_cli, name="apikey")


def _with_store(store_type, work):  # noqa: ANN001, ANN202 - a store class; async (store) -> T; returns T
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
        typer.echo(f"error: the database is not ready ({type(error.orig).__name__}); run `aftersales migrate`", err=True)
        raise typer.Exit(1) from None


def _with_key_store(work):  # noqa: ANN001, ANN202 - async (ApiKeyStore) -> T, returns T
    from store.apikeys import ApiKeyStore

    return _with_store(ApiKeyStore, work)


@apikey_cli.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="agent, handler, supervisor, head, admin, or the systems warehouse and logistics")],
    department: Annotated[str | None, typer.Option(help="The department of a handler key (required for handlers)")] = None,
    name: Annotated[
        str | None, typer.Option(help="Who the caller is in every record, up to 64 characters (default: role and key id)")
    ] = None,
) -> None:
    """Create a key and print it, once: only its hash is stored."""
    from domain.case import Department, Role
    from store.apikeys import InvalidKeyRequest

    try:
        wanted_role = Role(role)
        wanted_department = Department(department) if department else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if name is not None and not 0 < len(name) <= 64:
        raise typer.BadParameter("1 to 64 characters", param_hint="--name")
    try:
        issued = _with_key_store(lambda keys: keys.create(wanted_role, name=name, department=wanted_department))
    except InvalidKeyRequest as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(issued.key)
    where = f" in {issued.actor.department.value}" if issued.actor.department else ""
    typer.echo(
        f"key {issued.key_id} for {issued.actor.id} ({issued.actor.role.value}{where}); "
        "it is shown only now: store it in the caller's secrets",
        err=True,
    )


@apikey_cli.command("list")
def apikey_list() -> None:
    """Every key: id, name, role, department, created and revoked; never a secret."""
    from rich.console import Console
    from rich.table import Table

    rows = _with_key_store(lambda keys: keys.list())
    table = Table(title=f"API keys: {len(rows)}", title_justify="left")
    # The id is what `apikey revoke` takes: never cut it; the other columns wrap instead.
    table.add_column("key id", no_wrap=True, min_width=12)
    for column in ("name", "role", "department", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.key_id, row.name, row.role, row.department or "-", f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-",
        )  # fmt: skip
    Console().print(table)


@apikey_cli.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id `apikey list` shows, or a prefix of it only one live key has")],
) -> None:
    """Revoke a key at once: its next request is refused."""

    async def work(keys):  # noqa: ANN001, ANN202 - ApiKeyStore; (revoked, the id, ambiguous ids)
        live = [row.key_id for row in await keys.list() if row.revoked_at is None and row.key_id.startswith(key_id)]
        if len(live) != 1 or not key_id:
            return False, key_id, live if len(live) > 1 else []
        return await keys.revoke(live[0]), live[0], []

    revoked, key_id, ambiguous = _with_key_store(work)
    if ambiguous:
        typer.echo(f"error: {len(ambiguous)} live keys start with {key_id}: {', '.join(ambiguous)}; give more of the id", err=True)
        raise typer.Exit(1)
    if revoked:
        typer.echo(f"key {key_id} revoked")
    else:
        typer.echo(f"error: no live key {key_id}", err=True)
        raise typer.Exit(1)


triage_cli = typer.Typer(
    help="Triage rules versions (keywords, routing, priority terms) in the database at DATABASE_URL.", no_args_is_help=True
)
app.add_typer(triage_cli, name="triage-rules")


def _with_triage_rules(work):  # noqa: ANN001, ANN202 - async (TriageRulesStore) -> T, returns T
    from store.triage_rules import TriageRulesStore

    return _with_store(TriageRulesStore, work)


@triage_cli.command("upload")
def triage_rules_upload(
    file: Annotated[Path, typer.Argument(help="The rules as JSON or TOML (.toml), with a `version`", exists=True, dir_okay=False)],
    activate: Annotated[bool, typer.Option(help="Put it in force at once")] = False,
    actor: Annotated[str, typer.Option(help="Who uploads, in the record")] = "cli",
) -> None:
    """Store a new version (immutable: the same name with other rules is refused)."""
    import json
    import tomllib

    from pydantic import ValidationError

    from domain.triage import TriageRulesDocument
    from store.rules import VersionExists

    text = file.read_text(encoding="utf-8")
    try:
        document = TriageRulesDocument.model_validate(tomllib.loads(text) if file.suffix == ".toml" else json.loads(text))
    except (ValueError, ValidationError) as error:
        fields = [".".join(map(str, e["loc"])) + f": {e['msg']}" for e in error.errors()] if isinstance(error, ValidationError) else [str(error)]
        typer.echo("error: invalid triage rules\n  " + "\n  ".join(fields), err=True)
        raise typer.Exit(1) from None
    if not document.version:
        typer.echo("error: the file names no `version`", err=True)
        raise typer.Exit(1)
    rules = document.rules(document.version)

    async def work(store):
        created = await store.add(rules, actor)
        activated = await store.activate(rules.version, actor) if activate else None
        return created, activated

    try:
        created, activated = _with_triage_rules(work)
    except VersionExists:
        typer.echo(f"error: version {rules.version} exists with other rules: upload under a new version", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"triage rules {rules.version} {'uploaded' if created else 'already uploaded, unchanged'}")
    if activated is not None:
        typer.echo(f"triage rules {rules.version} in force for new cases (workers notice within their cache time)")


@triage_cli.command("activate")
def triage_rules_activate(
    version: Annotated[str, typer.Argument(help="An uploaded version")],
    actor: Annotated[str, typer.Option(help="Who activates, in the record")] = "cli",
) -> None:
    """Put an uploaded version in force for the cases received from now on."""
    if _with_triage_rules(lambda store: store.activate(version, actor)) is None:
        typer.echo(f"error: no triage rules version {version}: upload it first", err=True)
        raise typer.Exit(1)
    typer.echo(f"triage rules {version} in force for new cases (workers notice within their cache time)")


@triage_cli.command("list")
def triage_rules_list() -> None:
    """The uploaded versions, newest first, and the one in force."""

    async def work(store):
        return await store.active_version(), await store.versions(500)

    active, versions = _with_triage_rules(work)
    typer.echo(f"in force: {active or get_settings().triage_rules().version + ' (built-in or TRIAGE_RULES_FILE)'}")
    for v in versions:
        mark = "*" if v.version == active else " "
        typer.echo(f"{mark} {v.version:<32} uploaded {v.created_at:%Y-%m-%d %H:%M} by {v.created_by}")


temporal_cli = typer.Typer(help="Prepare a Temporal cluster for the cases.", no_args_is_help=True)
app.add_typer(temporal_cli, name="temporal")


@temporal_cli.command("setup")
def setup_temporal(temporal_address: TemporalAddress = None) -> None:
    """Register the search attributes on TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE; does nothing if they exist."""
    from temporal_setup import SearchAttributeConflict, register_search_attributes

    settings = _temporal_settings(temporal_address)

    async def run():  # noqa: ANN202 - tuple[SetupResult, str]
        client = await _connect(settings)
        result = await register_search_attributes(client, settings.temporal_namespace)
        return result, await _retention_schedule(client, settings)

    try:
        result, schedule = asyncio.run(run())
    except SearchAttributeConflict as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except TemporalUnreachable:
        raise _unreachable(settings) from None
    if result.added:
        typer.echo(f"namespace {result.namespace}: added {', '.join(result.added)}")
    if result.existing:
        typer.echo(f"namespace {result.namespace}: already there: {', '.join(result.existing)}")
    typer.echo(f"namespace {result.namespace}: retention schedule {settings.retention_schedule_id} {schedule}")


async def _retention_schedule(client, settings: Settings) -> str:  # noqa: ANN001 - temporalio Client
    """The daily anonymisation of expired cases (README: Personal data), created or updated."""
    from temporal_setup import ensure_retention_schedule

    return await ensure_retention_schedule(
        client,
        schedule_id=settings.retention_schedule_id,
        task_queue=settings.task_queue,
        years=settings.retention_years,
        timezone=settings.business_timezone,
    )


cases_cli = typer.Typer(help="Cases, from the terminal.", no_args_is_help=True)
app.add_typer(cases_cli, name="cases")


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

    from api.stuck import find_stuck, format_duration, temporal_ui_link
    from store.db import create_engine, session_factory
    from store.ops import OpsStore

    settings = _temporal_settings(temporal_address, ui_url)
    zone = ZoneInfo(settings.business_timezone)

    async def run():  # noqa: ANN202 - StuckReport
        engine = create_engine(settings.effective_database_url)
        try:
            client = await _connect(settings)
            return await find_stuck(
                OpsStore(session_factory(engine)), client, in_stage_longer_than=timedelta(hours=hours), limit=limit,
                rpc_timeout=timedelta(seconds=settings.temporal_timeout_seconds),
            )  # fmt: skip
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except TemporalUnreachable:
        raise _unreachable(settings) from None
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


@app.command()
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

    from demo import DemoError, demo_credentials, run_demo
    from store.apikeys import ApiKeyStore
    from store.db import create_engine, session_factory

    settings = get_settings()

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


@app.command()
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
    settings = get_settings()

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
        [(c.clock, str(c.on_time), str(c.missed), percent(c.rate), percent(before.clock(c.clock).rate)) for c in now.on_time],
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


def main() -> None:
    """The `aftersales` console script. It skips the interpreter's teardown once the command is
    done: the Temporal SDK's native threads can abort a process that is finalizing
    (temporalio/sdk-python#300), turning a clean exit, or a one-line error, into SIGABRT."""
    import logging
    import os
    import sys

    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            print(done.code, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
