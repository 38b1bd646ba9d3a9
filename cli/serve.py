"""`aftersales dev`, `worker`, `dispatcher`, `api` and `migrate`: run the pieces, together or one by one."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from cli import common
from cli.common import (
    TemporalAddress,
    TemporalUnreachable,
    UiUrl,
    configure_logging,
    connect_temporal,
    temporal_settings,
    unreachable,
)
from core.settings import Settings


class _ApiServer(uvicorn.Server):
    """Uvicorn re-raises Ctrl-C after serving; `dev` must still stop the worker and
    the Temporal server cleanly, so it owns the signals and only asks uvicorn to exit.
    `banner` is printed once the API listens: a person (or a script) who reads it can use
    every address in it at once."""

    banner = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.banner:
            typer.echo(self.banner)

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
    worker_metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve the worker's Prometheus metrics (Temporal SDK and case counters) on this port "
            "[default: WORKER_METRICS_PORT; off when unset]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the Temporal dev server (with UI), the worker and the API in one process. Ctrl-C stops all."""
    from cli.devserver import PortInUse, refuse_taken_ports
    from core.codec import ensure_key_file

    settings = common.get_settings()
    metrics_port = worker_metrics_port or settings.worker_metrics_port
    ports = {"--temporal-port": temporal_port, "--ui-port": ui_port, "--api-port": api_port}
    if metrics_port:
        ports["--worker-metrics-port"] = metrics_port
    try:  # before anything starts: a server already there would silently serve this run
        refuse_taken_ports(host, ports)
    except PortInUse as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    update: dict[str, object] = {
        "data_dir": data_dir,
        "temporal_address": f"{host}:{temporal_port}",
        "temporal_ui_url": f"http://{host}:{ui_port}",
        "console_public_url": settings.console_public_url or f"http://{host}:{api_port}/console",
        "worker_metrics_port": metrics_port,
        "worker_metrics_host": host,
    }
    key_file = None
    if encrypt_payloads and settings.codec() is None:  # keys configured in the environment win
        from pydantic import SecretStr

        key_file = data_dir / "codec-keys"
        update["codec_keys"] = SecretStr(ensure_key_file(key_file))
    settings = settings.model_copy(update=update)
    configure_logging(settings)
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
    from cli.devserver import DevServer
    from console.app import dev_sign_in_links
    from core.tracing import start_tracing, trace_engine
    from store.apikeys import ApiKeyStore, ensure_dev_keys
    from store.cases import CaseStore
    from store.db import create_engine, session_factory
    from store.migrate import upgrade
    from worker import outbox_dispatcher, tmc_consumer, worker_from_settings, worker_runtime

    start_tracing("aftersales")  # the API and the worker in one process: one service
    codec_endpoint = f"http://{host}:{api_port}/codec" if settings.codec() else None
    async with DevServer(
        settings.data_dir, temporal_port, ui_port, ip=host, ui_codec_endpoint=codec_endpoint
    ) as server:
        client = await server.connect(settings, runtime=worker_runtime(settings))
        await common.retention_schedule(client, settings)
        await common.reconcile_schedule(client, settings)
        engine = create_engine(settings.effective_database_url)
        trace_engine(engine)
        await upgrade(engine, phone_key=settings.phone_key())
        sessions = session_factory(engine)
        store = CaseStore(sessions, settings.case_number_prefix, phone_key=settings.phone_key())
        keys_file = settings.data_dir / "dev-keys.json"
        keys = await ensure_dev_keys(ApiKeyStore(sessions), keys_file)
        # On this run Temporal UI is the operator's (no sign-in of its own): it gets payloads decoded.
        app = create_app(settings, temporal=client, sessions=sessions, ui_codec_trusted=codec_endpoint is not None)
        console_links = dev_sign_in_links(app, f"http://{host}:{api_port}")
        api = _ApiServer(
            uvicorn.Config(
                app,
                host=host,
                port=api_port,
                log_level="info",
            )
        )
        async with (
            worker_from_settings(client, store, settings),
            outbox_dispatcher(settings, sessions),
            tmc_consumer(settings, client, sessions),
        ):
            api.banner = (
                f"\nAftersales is running (data in {settings.data_dir.resolve()}):\n"
                f"  API          http://{host}:{api_port}   (docs: http://{host}:{api_port}/docs)\n"
                f"  Temporal UI  {server.ui_url}/namespaces/{settings.temporal_namespace}/workflows\n"
                f"  Temporal     {server.address}   (server pid {server.pid})\n"
                + _privacy_line(settings, key_file)
                + f"  Metrics      http://{host}:{api_port}/metrics"
                + (
                    f"   worker: http://{host}:{settings.worker_metrics_port}/metrics\n"
                    if settings.worker_metrics_port
                    else "   (worker's: --worker-metrics-port)\n"
                )
                + f"  Report page  http://{host}:{api_port}/reports/monthly.html   (sign in with a supervisor's or the head's key)\n"
                f"API keys for development (send as X-API-Key; also in {keys_file}):\n"
                + "".join(f"  {role:<18}{key}\n" for role, key in keys.items())
                + "Console sign-in links (one-time; more on the sign-in page):\n"
                + "".join(f"  {role:<18}{link}\n" for role, link in console_links.items())
                + "Press Ctrl-C to stop.\n"
            )
            await api.serve()
        await engine.dispose()


def worker(temporal_address: TemporalAddress = None) -> None:
    """Run the case worker against TEMPORAL_ADDRESS and DATABASE_URL."""
    from core.tracing import start_tracing
    from worker import run_worker, worker_runtime

    settings = temporal_settings(temporal_address)
    configure_logging(settings)
    start_tracing("aftersales-worker")  # before connecting: the client carries the tracing interceptor

    async def run() -> None:
        await run_worker(settings, await connect_temporal(settings, worker_runtime(settings)))

    try:
        asyncio.run(run())
    except TemporalUnreachable:
        raise unreachable(settings) from None


def dispatcher() -> None:
    """Deliver the notification outbox at DATABASE_URL, apart from the worker (set WORKER_RUNS_DISPATCHER=false there)."""
    from worker import run_dispatcher

    settings = common.get_settings()
    configure_logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_dispatcher(settings))


def api(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    temporal_address: TemporalAddress = None,
    ui_url: UiUrl = None,
) -> None:
    """Serve the HTTP API against TEMPORAL_ADDRESS and DATABASE_URL."""
    from api.app import create_app
    from core.tracing import start_tracing

    settings = temporal_settings(temporal_address, ui_url)
    configure_logging(settings)
    start_tracing("aftersales-api")
    try:  # say so in one line now rather than as a failed startup's traceback
        asyncio.run(connect_temporal(settings))
    except TemporalUnreachable:
        raise unreachable(settings) from None
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def migrate() -> None:
    """Bring the database at DATABASE_URL (or the SQLite default) to the latest schema."""
    from store.db import create_engine
    from store.migrate import upgrade

    settings = common.get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        engine = create_engine(settings.effective_database_url)
        await upgrade(engine, phone_key=settings.phone_key())
        await engine.dispose()

    asyncio.run(run())
    typer.echo("database is at the latest schema")
