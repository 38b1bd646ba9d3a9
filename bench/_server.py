"""The bench's processes that are not workers: the Temporal dev server, the database, the API.

- `DevServer`: `temporal server start-dev` **in memory**, headless, on free ports
  (gRPC, HTTP, metrics), with the tuning of ../shared/PERFORMANCE.md that applies
  to an in-memory server (one task-queue partition:
  `matching.numTaskqueue{Read,Write}Partitions=1`; the SQLite pragmas only
  matter for a file-backed server) and the project's search attributes
  (`domain.search_attributes.cli_definitions()`).
- `fresh_database`: a new SQLite file in a temporary directory, migrated with
  `store.migrate.upgrade`, plus the bare baseline's `bench_write` table.
- `ApiServer`: `api.app.create_app(...)` served by uvicorn **in this process**
  on a free 127.0.0.1 port; clients talk to it over real HTTP with httpx.

Every child process dies with its parent (PR_SET_PDEATHSIG) and is stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

import psutil
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from cli.devserver import temporal_cli
from core.settings import Settings
from core.temporal_client import connect
from domain import search_attributes
from store.db import create_engine
from store.migrate import upgrade

PRODUCT_QUEUE = "bench-cases"
BARE_QUEUE = "bench-bare"

# ../shared/PERFORMANCE.md: one task-queue partition takes p99 from ≈5 s to ≈2 s.
SERVER_TUNING = [
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]  # fmt: skip


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def tail(path: Path, lines: int = 25) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# ---- the Temporal dev server ----------------------------------------------------------------


class DevServer:
    """`temporal server start-dev` in memory, headless, on free ports, tuned; stopped on exit."""

    def __init__(self, directory: Path, extra_args: Sequence[str] = ()) -> None:
        self.log_path = directory / "temporal.log"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None

    def command(self) -> list[str]:
        args = [
            str(temporal_cli()), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            "--log-level", "warn",
            *SERVER_TUNING, *self.extra_args,
        ]  # fmt: skip
        for definition in search_attributes.cli_definitions():
            args += ["--search-attribute", definition]
        return args

    async def __aenter__(self) -> DevServer:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C reaches only us; we stop it last
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        self.ps = psutil.Process(self.process.pid)
        return self

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited ({self.process.returncode}):\n{tail(self.log_path)}")

    async def connect(self, timeout: float = 60) -> Client:
        """A client (pydantic data converter, as the product's) once the search attributes exist."""
        deadline = time.monotonic() + timeout
        wanted = {key.name for key in search_attributes.ALL}
        while True:
            self.check_alive()
            with contextlib.suppress(RuntimeError):
                client = await connect(Settings(temporal_address=self.address))
                found = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=client.namespace)
                )
                if wanted <= set(found.custom_attributes):
                    return client
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the Temporal dev server did not come up in {timeout:.0f} s:\n{tail(self.log_path)}"
                )
            await asyncio.sleep(0.25)

    async def __aexit__(self, *exc: object) -> None:
        await stop_process(self.process)


async def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)


# ---- the database ---------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    path: Path
    engine: AsyncEngine  # for the bench process: reading progress, the API's sessions
    version: str = f"SQLite {sqlite3.sqlite_version}"


@contextlib.asynccontextmanager
async def fresh_database(directory: Path) -> AsyncIterator[Database]:
    from bench.bare import BENCH_TABLE_DDL

    path = directory / "cases.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(text(BENCH_TABLE_DDL))
        yield Database(url, path, engine)
    finally:
        await engine.dispose()


class QueryCounter:
    """Counts the statements an engine sends to the database (SQLAlchemy `before_cursor_execute`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.total = 0
        self.by_verb: dict[str, int] = {}
        self._engine = engine
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.total += 1
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        self.by_verb[verb] = self.by_verb.get(verb, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {"total": self.total, "by_verb": dict(self.by_verb)}

    def close(self) -> None:
        """Stop counting (an engine that outlives the count, e.g. a test session's)."""
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._count)


# ---- the API --------------------------------------------------------------------------------


class ApiServer:
    """The product's API served by uvicorn in this process on a free 127.0.0.1 port."""

    def __init__(self, client: Client, db: Database, task_queue: str = PRODUCT_QUEUE) -> None:
        import uvicorn

        from api.app import create_app
        from store.db import session_factory
        from tests.support.people import TEST_JWT_SECRET

        # The bench drives the API as tests/support/people.py's people, unthrottled.
        self.settings = Settings(
            task_queue=task_queue, database_url=db.url, temporal_address="unused", case_number_prefix="AS",
            jwt_secret=TEST_JWT_SECRET, rate_limit="",
        )  # fmt: skip
        # Its own engine, so that its statements are counted apart from the bench's own reads.
        self.engine = create_engine(db.url)
        self.queries = QueryCounter(self.engine)
        app = create_app(self.settings, temporal=client, sessions=session_factory(self.engine))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

        class _Server(uvicorn.Server):
            def capture_signals(self):  # type: ignore[no-untyped-def]  # our Ctrl-C handling, not uvicorn's
                return contextlib.nullcontext()

        self._server = _Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on")
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ApiServer:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
        await self.engine.dispose()
