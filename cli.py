"""The `aftersales` command: dev (everything in one), worker, api, migrate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

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


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def dev(
    api_port: Annotated[int, typer.Option(help="Port of the HTTP API")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Port of the Temporal dev server (gRPC)")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Port of Temporal UI")] = 8233,
    data_dir: Annotated[Path, typer.Option(help="Where Temporal's state and the SQLite database live")] = Path(
        ".aftersales"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
) -> None:
    """Start the Temporal dev server (with UI), the worker and the API in one process. Ctrl-C stops all."""
    settings = get_settings().model_copy(
        update={
            "data_dir": data_dir,
            "temporal_address": f"{host}:{temporal_port}",
            "temporal_ui_url": f"http://{host}:{ui_port}",
        }
    )
    _logging(settings)
    try:
        asyncio.run(_dev(settings, host, api_port, temporal_port, ui_port))
    except KeyboardInterrupt:
        pass


async def _dev(settings: Settings, host: str, api_port: int, temporal_port: int, ui_port: int) -> None:
    from api.app import create_app
    from devserver import DevServer
    from store.cases import CaseStore
    from store.db import create_engine, session_factory
    from store.migrate import upgrade
    from worker import build_worker

    async with DevServer(settings.data_dir, temporal_port, ui_port, ip=host) as server:
        client = await server.connect(settings)
        engine = create_engine(settings.effective_database_url)
        await upgrade(engine)
        sessions = session_factory(engine)
        store = CaseStore(sessions, settings.case_number_prefix)
        api = _ApiServer(
            uvicorn.Config(create_app(settings, temporal=client, sessions=sessions), host=host, port=api_port, log_level="info")
        )
        async with build_worker(client, store, settings.task_queue):
            typer.echo(
                f"\nAftersales is running (data in {settings.data_dir.resolve()}):\n"
                f"  API          http://{host}:{api_port}   (docs: http://{host}:{api_port}/docs)\n"
                f"  Temporal UI  {server.ui_url}/namespaces/{settings.temporal_namespace}/workflows\n"
                f"  Temporal     {server.address}\n"
                "Press Ctrl-C to stop.\n"
            )
            await api.serve()
        await engine.dispose()


@app.command()
def worker() -> None:
    """Run the case worker against TEMPORAL_ADDRESS and DATABASE_URL."""
    from worker import run_worker

    settings = get_settings()
    _logging(settings)
    asyncio.run(run_worker(settings))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API against TEMPORAL_ADDRESS and DATABASE_URL."""
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level=get_settings().log_level.lower())


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


if __name__ == "__main__":
    app()
