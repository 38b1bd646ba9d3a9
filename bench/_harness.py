"""What every bench script needs: a Temporal dev server, a database, a worker, the API, and measuring.

- `DevServer`: `temporal server start-dev` **in memory**, headless, on free ports
  (gRPC, HTTP, metrics), with the tuning of ../shared/PERFORMANCE.md that applies
  to an in-memory server (one task-queue partition:
  `matching.numTaskqueue{Read,Write}Partitions=1`; the SQLite pragmas only
  matter for a file-backed server) and the project's search attributes
  (`domain.search_attributes.cli_definitions()`).
- `fresh_database`: a new SQLite file in a temporary directory, migrated with
  `store.migrate.upgrade`, plus the bare baseline's `bench_write` table.
- `WorkerProcess`: the product's worker (`worker.build_worker`) and the bare
  baseline's worker (`bench.bare`) in a child process of their own
  (`python -m bench._harness worker ...`), so that its RSS and CPU are its own.
  It counts every database statement it executes (SQLAlchemy
  `before_cursor_execute`) and reports the count on SIGUSR1 and on exit.
  `inprocess_workers` runs the same two workers in this process instead.
- `ApiServer`: `api.app.create_app(...)` served by uvicorn **in this process**
  on a free 127.0.0.1 port; clients talk to it over real HTTP with httpx.
- measuring helpers: nearest-rank percentiles, CPU and RSS of processes,
  machine and version facts, plain-text tables.

Every child process dies with its parent (PR_SET_PDEATHSIG) and is stopped on
exit, Ctrl-C or SIGTERM; temporary directories are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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

PYCACHE = Path(tempfile.gettempdir()) / "aftersales-bench-pycache"

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


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 25) -> str:
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
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.ps = psutil.Process(self.process.pid)
        return self

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited ({self.process.returncode}):\n{_tail(self.log_path)}")

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
                    f"the Temporal dev server did not come up in {timeout:.0f} s:\n{_tail(self.log_path)}"
                )
            await asyncio.sleep(0.25)

    async def __aexit__(self, *exc: object) -> None:
        await _stop(self.process)


async def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
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
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.total += 1
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        self.by_verb[verb] = self.by_verb.get(verb, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {"total": self.total, "by_verb": dict(self.by_verb)}


# ---- bytecode ------------------------------------------------------------------------------


def bytecode_env(env: dict[str, str], bytecode: bool) -> dict[str, str]:
    """A worker as deployed has .pyc files (pip compiles what it installs), but this checkout runs
    with PYTHONDONTWRITEBYTECODE=1. The sandbox imports workflows/case.py afresh for every workflow
    it loads, so without .pyc it compiles the module from source each time. With `bytecode`, the
    child caches bytecode under PYCACHE (PYTHONPYCACHEPREFIX), outside the checkout."""
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def use_bytecode(bytecode: bool) -> None:
    """The same for this process (the API, an in-process worker)."""
    sys.dont_write_bytecode = not bytecode
    if bytecode:
        sys.pycache_prefix = str(PYCACHE)


# ---- worker options -------------------------------------------------------------------------


def worker_options(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker keyword arguments from JSON-able values.

    `*_poller_behavior`: an int (that many pollers at most), "autoscaling", or
    {"autoscaling": {"minimum": .., "maximum": .., "initial": ..}}.
    `workflow_runner`: "unsandboxed", or {"passthrough": ["module", ...]} to add
    modules to the product's own sandbox passthrough. `*_timeout`/`*_interval`:
    seconds. Everything else goes to `temporalio.worker.Worker` as is.
    """
    from temporalio.worker import (
        PollerBehaviorAutoscaling,
        PollerBehaviorSimpleMaximum,
        UnsandboxedWorkflowRunner,
    )
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key.endswith("_poller_behavior"):
            if isinstance(value, int):
                value = PollerBehaviorSimpleMaximum(maximum=value)
            elif value == "autoscaling":
                value = PollerBehaviorAutoscaling()
            elif isinstance(value, dict) and "autoscaling" in value:
                value = PollerBehaviorAutoscaling(**value["autoscaling"])
            else:
                raise ValueError(f"{key}: {value!r}")
        elif key == "workflow_runner":
            if value == "unsandboxed":
                value = UnsandboxedWorkflowRunner()
            elif isinstance(value, dict) and "passthrough" in value:
                from worker import SANDBOX

                value = SandboxedWorkflowRunner(
                    restrictions=SANDBOX.restrictions.with_passthrough_modules(*value["passthrough"])
                )
            else:
                raise ValueError(f"{key}: {value!r}")
        elif key.endswith("_timeout") or key.endswith("_interval"):
            value = timedelta(seconds=value)
        out[key] = value
    return out


def use_local_activities(names: Sequence[str]) -> None:
    """Bench-only experiment, no product code changed: `workflow.execute_activity(name, ...)`
    for these activity names runs them as local activities instead (same function, same
    timeouts and retry policy). Affects every workflow in this process; new executions only."""
    if not names:
        return
    from temporalio import workflow

    local = frozenset(names)
    regular = workflow.execute_activity

    def execute_activity(activity: Any, *args: Any, **kwargs: Any) -> Any:
        if activity in local:
            kwargs.pop("task_queue", None)
            kwargs.pop("heartbeat_timeout", None)
            kwargs.pop("priority", None)
            kwargs.pop("versioning_intent", None)
            return workflow.execute_local_activity(activity, *args, **kwargs)
        return regular(activity, *args, **kwargs)

    workflow.execute_activity = execute_activity  # type: ignore[assignment]


def _build_workers(
    client: Client,
    engine: AsyncEngine,
    options: dict[str, Any],
    product_queue: str | None,
    bare_queue: str | None,
) -> list[Any]:
    from bench.bare import build_bare_worker
    from store.cases import CaseStore
    from store.db import session_factory
    from worker import build_worker

    workers = []
    if product_queue:
        store = CaseStore(session_factory(engine))
        product_options = worker_options(options)
        if "workflow_runner" in product_options:
            # build_worker() fixes the runner (worker.SANDBOX); the same worker with another one.
            from temporalio.worker import Worker

            from activities.case import CaseActivities
            from workflows.case import CaseWorkflow

            workers.append(
                Worker(
                    client,
                    task_queue=product_queue,
                    workflows=[CaseWorkflow],
                    activities=CaseActivities(store).all,
                    **product_options,
                )
            )
        else:
            workers.append(build_worker(client, store, product_queue, **product_options))
    if bare_queue:
        workers.append(build_bare_worker(client, engine, bare_queue, **worker_options(options)))
    return workers


@contextlib.asynccontextmanager
async def inprocess_workers(
    client: Client,
    database_url: str,
    options: dict[str, Any] | None = None,
    product_queue: str | None = PRODUCT_QUEUE,
    bare_queue: str | None = BARE_QUEUE,
    local_activities: Sequence[str] = (),
) -> AsyncIterator[QueryCounter]:
    """The product's and the bare workers in this process, on their own engine; yields its query counter."""
    use_local_activities(local_activities)
    engine = create_engine(database_url)
    counter = QueryCounter(engine)
    workers = _build_workers(client, engine, options or {}, product_queue, bare_queue)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for w in workers:
                await stack.enter_async_context(w)
            yield counter
    finally:
        await engine.dispose()


class WorkerProcess:
    """The workers in a child process: `python -m bench._harness worker ...`."""

    def __init__(
        self,
        directory: Path,
        address: str,
        database_url: str,
        options: dict[str, Any] | None = None,
        product_queue: str | None = PRODUCT_QUEUE,
        bare_queue: str | None = BARE_QUEUE,
        local_activities: Sequence[str] = (),
        name: str = "worker",
        bytecode: bool = True,
    ) -> None:
        self.env = bytecode_env(os.environ.copy(), bytecode)
        self.stats_path = directory / f"{name}.stats.json"
        self.log_path = directory / f"{name}.log"
        self.args = [
            sys.executable, "-m", "bench._harness", "worker",
            "--address", address, "--database-url", database_url,
            "--options", json.dumps(options or {}), "--stats-file", str(self.stats_path),
        ]  # fmt: skip
        if product_queue:
            self.args += ["--product-queue", product_queue]
        if bare_queue:
            self.args += ["--bare-queue", bare_queue]
        if local_activities:
            self.args += ["--local-activities", ",".join(local_activities)]
        self.process: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None
        self.final: dict[str, Any] | None = None

    async def __aenter__(self) -> WorkerProcess:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.ps = psutil.Process(self.process.pid)
        deadline = time.monotonic() + 60
        while not self._read().get("ready"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not start in 60 s:\n{_tail(self.log_path)}")
            await asyncio.sleep(0.1)
        return self

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the worker exited ({self.process.returncode}):\n{_tail(self.log_path)}")

    def _read(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.stats_path.read_text())
        return {}

    async def stats(self, timeout: float = 10) -> dict[str, Any]:
        """The worker's counters now (it writes them on SIGUSR1)."""
        assert self.process is not None
        self.check_alive()
        before = self._read().get("n", -1)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            now = self._read()
            if now.get("n", -1) != before:
                return now
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not report its counters")
            await asyncio.sleep(0.02)

    async def __aexit__(self, *exc: object) -> None:
        await _stop(self.process, timeout=20)
        self.final = self._read()

    def log_tail(self) -> str:
        return _tail(self.log_path)


async def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._harness worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--product-queue")
    parser.add_argument("--bare-queue")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--local-activities", default="")
    parser.add_argument("--stats-file", required=True)
    args = parser.parse_args(argv)

    use_local_activities([n for n in args.local_activities.split(",") if n])
    client = await connect(Settings(temporal_address=args.address))
    engine = create_engine(args.database_url)
    counter = QueryCounter(engine)
    stats_path = Path(args.stats_file)
    written = 0
    me = psutil.Process()

    def write(ready: bool) -> None:
        nonlocal written
        written += 1
        payload = {
            "n": written,
            "ready": ready,
            "pid": os.getpid(),
            "queries": counter.snapshot(),
            "rss": me.memory_info().rss,
            "at": time.time(),
        }
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))
        tmp.replace(stats_path)

    workers = _build_workers(client, engine, json.loads(args.options), args.product_queue, args.bare_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: write(True))
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    runs = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.sleep(0.5)  # the pollers are up
    for run in runs:
        if run.done():
            run.result()  # raise what stopped it
    write(True)
    done, _ = await asyncio.wait([*runs, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task in runs:
            task.result()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    write(False)
    await engine.dispose()


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


# ---- measuring ------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50, p90, p99, max and mean, in milliseconds."""

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    return {
        "n": len(seconds),
        "p50": ms(percentile(seconds, 50)),
        "p90": ms(percentile(seconds, 90)),
        "p99": ms(percentile(seconds, 99)),
        "max": ms(max(seconds) if seconds else None),
        "mean": ms(sum(seconds) / len(seconds) if seconds else None),
    }


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return None if a is None or not b else round(a / b, digits)


def _cpu(ps: psutil.Process) -> float:
    """User + system CPU seconds of the process itself (all its threads; not its children:
    the dev server and the worker are children of the bench process and are measured apart)."""
    with contextlib.suppress(psutil.Error):
        t = ps.cpu_times()
        return t.user + t.system
    return float("nan")


def _rss(ps: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error):
        return ps.memory_info().rss
    return 0


@dataclass
class CpuMark:
    wall: float
    cpu: dict[str, float]
    machine: tuple[float, float]  # busy, total from psutil.cpu_times()


class CpuMeter:
    """CPU seconds of named processes (a name may stand for several, summed) between two marks."""

    def __init__(self, processes: dict[str, psutil.Process | Sequence[psutil.Process] | None]) -> None:
        self.processes: dict[str, list[psutil.Process]] = {}
        for name, ps in processes.items():
            group = [ps] if isinstance(ps, psutil.Process) else list(ps or [])
            if group:
                self.processes[name] = group

    def mark(self) -> CpuMark:
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        total = sum(t)
        cpu = {n: sum(_cpu(p) for p in group) for n, group in self.processes.items()}
        return CpuMark(time.monotonic(), cpu, (total - idle, total))

    @staticmethod
    def between(a: CpuMark, b: CpuMark) -> dict[str, Any]:
        wall = b.wall - a.wall
        out: dict[str, Any] = {"seconds": round(wall, 2)}
        for name in a.cpu:
            used = b.cpu[name] - a.cpu[name]
            out[f"{name}_cpu_s"] = round(used, 2)
            out[f"{name}_cores"] = round(used / wall, 3) if wall > 0 else None
        busy = b.machine[0] - a.machine[0]
        total = b.machine[1] - a.machine[1]
        out["machine_busy_pct"] = round(100 * busy / total, 1) if total > 0 else None
        return out

    def rss(self) -> dict[str, int]:
        return {name: sum(_rss(p) for p in group) for name, group in self.processes.items()}


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy the machine is before we start (another benchmark running would spoil ours)."""
    return psutil.cpu_percent(interval=seconds)


def wait_until_quiet(max_wait: float, busy_below: float = 20.0) -> float:
    """Wait (at most `max_wait` s) until the machine is less than `busy_below` % busy over 2 s;
    returns the last busy figure. Other sessions' tests and benchmarks share this machine."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = psutil.cpu_percent(interval=2.0)
        if busy < busy_below or time.monotonic() >= deadline:
            return busy
        log(f"machine {busy:.0f} % busy; waiting for it to calm down")


def other_heavy_processes() -> list[str]:
    """Other Temporal dev servers or bench processes on this machine (not ours)."""
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.children(recursive=True)), *(p.pid for p in me.parents())}
    found = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if p.info["pid"] in mine:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if "start-dev" in cmd or ("bench/" in cmd and "python" in cmd):
                found.append(f"{p.info['pid']}: {cmd[:120]}")
    return found


# A run that began on a machine busier than this is labelled "busy" in its JSON (other sessions
# share the machine; issue 19: such a run is labelled or discarded).
BUSY_LABEL_PCT = 30.0


@dataclass
class Preflight:
    """What every script notes before it starts: when, how busy the machine was, who else runs,
    and the commit the workers load (not what the checkout holds at the end)."""

    began: float
    busy_pct: float
    others: list[str]
    commit: str

    def facts(self, bytecode: bool) -> dict[str, Any]:
        """The JSON fields every script's result ends with."""
        return {
            "bytecode": bytecode,
            "machine": machine() | {"commit": self.commit},
            "machine_busy_before_pct": self.busy_pct,
            "machine_busy": self.busy_pct > BUSY_LABEL_PCT,
            "other_processes": self.others,
            "total_s": round(time.monotonic() - self.began, 1),
        }


def preflight(quiet_wait: float = 0) -> Preflight:
    began = time.monotonic()
    others = other_heavy_processes()
    if others:
        log("warning: other benchmark-like processes are running, figures will suffer:\n  " + "\n  ".join(others))
    busy = wait_until_quiet(quiet_wait) if quiet_wait else machine_busy_pct()
    if busy > BUSY_LABEL_PCT:
        log(f"warning: the machine is {busy:.0f} % busy before the run; the result is labelled busy")
    return Preflight(began, busy, others, product_commit())


def common_args(
    parser: argparse.ArgumentParser,
    *,
    worker: bool = True,
    local_activities: bool = False,
    options_default: str | None = "{}",
    options_help: str = "JSON Worker options for both workers, see _harness.worker_options",
) -> None:
    """The flags every script takes (bench/README.md, "Common flags")."""
    if worker:
        parser.add_argument("--worker", choices=["subprocess", "inprocess"], default="subprocess")
        parser.add_argument(
            "--worker-processes", type=int, default=1, help="worker processes, each with both workers (default 1)"
        )
    parser.add_argument("--options", default=options_default, help=options_help)
    if local_activities:
        parser.add_argument(
            "--local-activities", default="", help="bench-only: run these activities of the product as local"
        )
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="first wait up to this many seconds for the machine to be < 20 %% busy",
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="run as this checkout does by default (PYTHONDONTWRITEBYTECODE=1, no .pyc); default: with .pyc, as deployed",
    )


def _version(module: str) -> str | None:
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        return version(module)
    return None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def product_commit() -> str:
    """The checkout measured: HEAD (`git rev-parse HEAD`), and "+changes" when product code differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "workflows", "activities", "store", "api", "domain",
             "worker.py", "core"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return head.stdout.strip() + (" +changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    try:
        cli = subprocess.run(
            [str(temporal_cli()), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        cli = f"unknown ({error})"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": product_commit(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "versions": {
            "python": platform.python_version(),
            "temporalio": _version("temporalio"),
            "temporal_cli": cli,
            "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": _version("sqlalchemy"),
            "aiosqlite": _version("aiosqlite"),
            "fastapi": _version("fastapi"),
            "uvicorn": _version("uvicorn"),
            "httpx": _version("httpx"),
            "pydantic": _version("pydantic"),
        },
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in cells:
        out.append("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


# ---- one environment for a script -----------------------------------------------------------


@dataclass
class Env:
    directory: Path
    server: DevServer
    client: Client
    db: Database
    workers: list[WorkerProcess] = field(default_factory=list)  # worker processes, when in subprocesses
    worker_queries: QueryCounter | None = None  # when the worker runs in-process
    api: ApiServer | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def worker(self) -> WorkerProcess | None:
        return self.workers[0] if self.workers else None

    def meter(self, **more: psutil.Process | None) -> CpuMeter:
        return CpuMeter(
            {
                "server": self.server.ps,
                "worker": [w.ps for w in self.workers if w.ps is not None],  # all worker processes, summed
                "bench": psutil.Process(),  # the driver, and the API / in-process worker when they run here
                **more,
            }
        )

    async def worker_statements(self) -> int:
        if self.worker_queries is not None:
            return self.worker_queries.total
        return sum([(await w.stats())["queries"]["total"] for w in self.workers])

    def check_alive(self) -> None:
        self.server.check_alive()
        for w in self.workers:
            w.check_alive()


@contextlib.asynccontextmanager
async def environment(
    *,
    worker: str = "subprocess",
    processes: int = 1,
    options: dict[str, Any] | None = None,
    product_queue: str | None = PRODUCT_QUEUE,
    bare_queue: str | None = BARE_QUEUE,
    local_activities: Sequence[str] = (),
    api: bool = True,
    keep: bool = False,
    bytecode: bool = True,
) -> AsyncIterator[Env]:
    """Server, database, workers (`worker`: "subprocess" — `processes` of them — or "inprocess") and API,
    all stopped on exit."""
    began = time.monotonic()
    use_bytecode(bytecode)
    directory = Path(tempfile.mkdtemp(prefix="aftersales-bench-"))
    server = DevServer(directory)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for attempt in range(3):
                # The dev server picks its internal ports itself; another process may take one
                # first ("bind: address already in use"). Then it exits at once: try new ports.
                server = DevServer(directory)
                await server.__aenter__()
                try:
                    client = await server.connect()
                    break
                except RuntimeError:
                    await server.__aexit__(None, None, None)
                    if attempt == 2:
                        raise
                    log("the Temporal dev server exited while starting; trying other ports")
            stack.push_async_exit(server)
            log(f"Temporal dev server (in memory, 1 partition) on {server.address}; files in {directory}")
            db = await stack.enter_async_context(fresh_database(directory))
            env = Env(directory, server, client, db)
            if worker == "subprocess":
                for i in range(processes):
                    env.workers.append(
                        await stack.enter_async_context(
                            WorkerProcess(
                                directory,
                                server.address,
                                db.url,
                                options,
                                product_queue,
                                bare_queue,
                                local_activities,
                                name=f"worker{i + 1}",
                                bytecode=bytecode,
                            )
                        )
                    )
                pids = ", ".join(str(w.process.pid) for w in env.workers if w.process)
                log(f"worker process(es) {pids} polling {product_queue} / {bare_queue}")
            else:
                env.worker_queries = await stack.enter_async_context(
                    inprocess_workers(client, db.url, options, product_queue, bare_queue, local_activities)
                )
                log(f"workers in this process polling {product_queue} / {bare_queue}")
            if api:
                env.api = await stack.enter_async_context(ApiServer(client, db, product_queue or PRODUCT_QUEUE))
                log(f"API (uvicorn in this process) on {env.api.url}")
            env.extra["setup_s"] = round(time.monotonic() - began, 1)
            try:
                yield env
            except BaseException:
                for name, tail in (("Temporal dev server", _tail(server.log_path)),
                                   ("worker", env.worker.log_tail() if env.worker else "")):  # fmt: skip
                    if tail:
                        log(f"{name} log (last lines):\n{tail}")
                raise
    finally:
        if not keep:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)


def run_main(main: Callable[[], Any]) -> int:
    """asyncio.run(main()) with SIGTERM treated like Ctrl-C, so everything is cleaned up."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return asyncio.run(main()) or 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def emit(text_table: str, result: dict[str, Any], out: str | None) -> None:
    """The readable table, then the JSON on one line (and into `out` when given)."""
    print(text_table)
    print(json.dumps(result, default=str))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        asyncio.run(_worker_main(sys.argv[2:]))
    else:
        print(__doc__)


# ---- profiling (py-spy) ---------------------------------------------------------------------


def py_spy_available() -> bool:
    import shutil

    return bool(shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists())


def start_py_spy(pid: int, seconds: float, out: Path, rate: int = 100) -> subprocess.Popen[bytes] | None:
    """`py-spy record` of a running process in collapsed-stack ("raw") format, or None without py-spy."""
    import shutil

    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", str(rate),
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )  # fmt: skip


# Leaf frames of threads that wait (py-spy's own idle detection does not see these in a container).
_IDLE_LEAVES = (
    "EpollSelector.select",
    "_connection_worker_thread",
    "_worker (",
    "Condition.wait",
    "_wait_for_tstate_lock",
)

# Where the busy time goes, inclusive: a sample counts for every area one of its frames is in.
_AREAS = [
    ("sandbox: new workflow instance (re-import of the workflow module)", ("_Instance._create_instance",)),
    ("  of which compiling source (no .pyc)", ("source_to_code",)),
    ("workflow code (workflows/case/, domain/)", ("workflows/case/", "/domain/", "bench/bare.py")),
    ("payload conversion (pydantic / JSON)", ("temporalio/converter", "temporalio/contrib/pydantic", "pydantic/")),
    ("payload visitors", ("_visitor.py", "_command_aware_visitor.py")),
    ("activities (all)", ("_ActivityWorker._execute_activity",)),
    ("database: SQLAlchemy + aiosqlite", ("sqlalchemy/", "aiosqlite/")),
    ("HTTP API: FastAPI / Starlette / uvicorn / httpx", ("fastapi/", "starlette/", "uvicorn/", "httpx/", "httpcore/")),
    ("Temporal client calls", ("temporalio/client/",)),
]


def profile_summary(collapsed: Path, top: int = 12) -> dict[str, Any]:
    """From py-spy's collapsed stacks, over the samples that were not waiting: the share by area
    (inclusive) and the functions that were running (self)."""
    areas = {label: 0 for label, _ in _AREAS}
    own: dict[str, int] = {}
    total = busy = 0
    with contextlib.suppress(OSError):
        for line in collapsed.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            if not frames or any(marker in frames[-1] for marker in _IDLE_LEAVES):
                continue
            busy += n
            for label, markers in _AREAS:
                if any(marker in frame for frame in frames for marker in markers):
                    areas[label] += n
            leaf = frames[-1]
            name = leaf.split(" (")[0] + (
                " " + leaf.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] if " (" in leaf else ""
            )
            own[name] = own.get(name, 0) + n

    def pct(v: int) -> float:
        return round(100 * v / busy, 1) if busy else 0.0

    return {
        "samples": total,
        "busy_samples": busy,
        "areas_pct": {label: pct(v) for label, v in areas.items()},
        "self_pct": [(k, pct(v)) for k, v in sorted(own.items(), key=lambda kv: -kv[1])[:top]],
        "file": str(collapsed),
    }
