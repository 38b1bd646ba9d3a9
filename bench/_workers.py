"""The product's and the bare workers, in a child process of their own or in this one.

- `WorkerProcess`: the product's worker (`worker.build_worker`) and the bare
  baseline's worker (`bench.bare`) in a child process (`python -m bench._workers worker ...`),
  so that its RSS and CPU are its own. It counts every database statement it executes
  (SQLAlchemy `before_cursor_execute`) and reports the count on SIGUSR1 and on exit.
- `inprocess_workers`: the same two workers in this process.
- `worker_options`: Worker keyword arguments from the scripts' `--options` JSON;
  `use_local_activities`: the bench-only `--local-activities` switch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

import psutil
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

# ---- bytecode ------------------------------------------------------------------------------
from bench._server import BARE_QUEUE, PRODUCT_QUEUE, QueryCounter, die_with_parent, stop_process, tail
from core.settings import Settings
from core.temporal_client import connect
from store.db import create_engine

PYCACHE = Path(tempfile.gettempdir()) / "aftersales-bench-pycache"


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
            sys.executable, "-m", "bench._workers", "worker",
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
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        self.ps = psutil.Process(self.process.pid)
        deadline = time.monotonic() + 60
        while not self._read().get("ready"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not start in 60 s:\n{tail(self.log_path)}")
            await asyncio.sleep(0.1)
        return self

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the worker exited ({self.process.returncode}):\n{tail(self.log_path)}")

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
        await stop_process(self.process, timeout=20)
        self.final = self._read()

    def log_tail(self) -> str:
        return tail(self.log_path)


async def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._workers worker")
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        asyncio.run(_worker_main(sys.argv[2:]))
    else:
        print(__doc__)
