"""What every bench script needs, in one place: an environment (server, database, workers, API) and
the scaffolding the scripts share (flags, preflight, the JSON's common fields, output).

The parts live in modules of their own, re-exported here so that a script imports from one place:

- `bench._server`: the Temporal dev server (in memory, tuned, the project's search attributes),
  a fresh migrated SQLite database, the API under uvicorn in this process;
- `bench._workers`: the product's and the bare workers in child processes (`python -m bench._workers
  worker`) or in this process, worker options, the bench-only local-activities switch;
- `bench._measure`: percentiles, CPU and RSS meters, tables, output, py-spy profiles;
- `bench._facts`: the machine and commit, the busy share before a run, the common flags.

Every child process dies with its parent (PR_SET_PDEATHSIG) and is stopped on
exit, Ctrl-C or SIGTERM; temporary directories are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

import httpx
import psutil
from temporalio.client import Client

from bench._facts import (
    BUSY_LABEL_PCT,
    Preflight,
    common_args,
    machine,
    machine_busy_pct,
    other_heavy_processes,
    preflight,
    product_commit,
)
from bench._measure import (
    CpuMark,
    CpuMeter,
    emit,
    latency_summary,
    percentile,
    profile_summary,
    py_spy_available,
    ratio,
    start_py_spy,
    table,
)
from bench._server import (
    BARE_QUEUE,
    PRODUCT_QUEUE,
    ApiServer,
    Database,
    DevServer,
    QueryCounter,
    fresh_database,
    log,
    tail,
)
from bench._workers import WorkerProcess, inprocess_workers, use_bytecode, worker_options

__all__ = [
    "API_TRANSPORT", "BARE_QUEUE", "BUSY_LABEL_PCT", "PRODUCT_QUEUE", "SERVER_DESCRIPTION", "ApiServer",
    "CpuMark", "CpuMeter", "Database", "DevServer", "Env", "Preflight", "QueryCounter", "Run", "WorkerProcess",
    "api_client", "begin", "common_args", "emit", "environment", "footer", "fresh_database",
    "inprocess_workers", "latency_summary", "log", "machine", "machine_busy_pct", "other_heavy_processes",
    "percentile", "preflight", "product_commit", "profile_summary", "py_spy_available", "ratio", "run_main",
    "script", "start_py_spy", "table", "worker_options",
]  # fmt: skip


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
                for name, lines in (("Temporal dev server", tail(server.log_path)),
                                   ("worker", env.worker.log_tail() if env.worker else "")):  # fmt: skip
                    if lines:
                        log(f"{name} log (last lines):\n{lines}")
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:  # the worker's old address; bench._workers runs it
        from bench._workers import _worker_main

        asyncio.run(_worker_main(sys.argv[2:]))
    else:
        print(__doc__)


# ---- what the scripts share ------------------------------------------------------------------

SERVER_DESCRIPTION = "temporal server start-dev, in memory, headless, 1 task-queue partition"
API_TRANSPORT = "httpx over TCP to uvicorn in the bench process"


@dataclass
class Run:
    """One script's run as its flags (`common_args`) ask: the preflight taken, the worker options
    and local activities parsed, the environment they call for, and the JSON fields they give."""

    args: Any
    pre: Preflight
    options: dict[str, Any]
    local: list[str]

    @property
    def bytecode(self) -> bool:
        return not self.args.no_bytecode

    @property
    def worker(self) -> str:
        return getattr(self.args, "worker", "subprocess")

    def environment(self, **overrides: Any) -> contextlib.AbstractAsyncContextManager[Env]:
        settings: dict[str, Any] = {
            "worker": self.worker,
            "processes": getattr(self.args, "worker_processes", 1),
            "options": self.options,
            "local_activities": self.local,
            "bytecode": self.bytecode,
        }
        return environment(**(settings | overrides))

    def fields(self) -> dict[str, Any]:
        """How the workers ran, as every JSON states it."""
        out: dict[str, Any] = {}
        if hasattr(self.args, "worker"):
            out["worker"] = self.worker
            out["worker_processes"] = self.args.worker_processes if self.worker == "subprocess" else 0
        out["worker_options"] = self.options
        if hasattr(self.args, "local_activities"):
            out["local_activities"] = self.local
        return out

    def facts(self) -> dict[str, Any]:
        return self.pre.facts(bytecode=self.bytecode)


def begin(args: Any, options: dict[str, Any] | None = None) -> Run:
    """The preflight (waiting for a quiet machine when asked), then the flags' options."""
    pre = preflight(args.quiet_wait)
    if options is None:
        options = json.loads(args.options)
    local = [n for n in getattr(args, "local_activities", "").split(",") if n]
    return Run(args, pre, options, local)


def api_client(env: Env, connections: int, timeout: float) -> httpx.AsyncClient:
    """An HTTP client of the API under uvicorn with room for `connections` requests in flight."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=min(connections, 200))
    return httpx.AsyncClient(base_url=env.api.url if env.api else "http://unused", timeout=timeout, limits=limits)


def footer(result: dict[str, Any]) -> list[str]:
    """The last lines of every table: how the workers ran and on what machine."""
    m = result["machine"]
    how = f"Worker options: {json.dumps(result['worker_options'])}"
    if "local_activities" in result:
        how += f"; local activities: {result['local_activities'] or 'none'}"
    if "worker_processes" in result:
        how += f"; worker processes: {result['worker_processes'] or 'in this process'}"
    return [
        how,
        f"Machine: {m['nproc']} cores, {m['ram_gib']} GiB, {m['cpu_model']}; commit {m['commit']}; "
        f"busy before start {result['machine_busy_before_pct']} %"
        + (" (labelled busy)" if result.get("machine_busy") else "")
        + f"; total {result['total_s']} s",
    ]


def script(
    parse_args: Callable[[list[str] | None], Any],
    bench: Callable[[Any], Awaitable[dict[str, Any]]],
    render: Callable[[dict[str, Any]], str],
    ok: Callable[[dict[str, Any]], bool] = lambda result: True,
    after: Callable[[Any, dict[str, Any]], None] | None = None,
) -> Callable[[list[str] | None], Awaitable[int]]:
    """A script's `main`: flags, the run, anything `after` it (a plot), the table and JSON; exit 1 unless `ok`."""

    async def main(argv: list[str] | None = None) -> int:
        args = parse_args(argv)
        result = await bench(args)
        if after is not None:
            after(args, result)
        emit(render(result), result, args.out)
        return 0 if ok(result) else 1

    return main
