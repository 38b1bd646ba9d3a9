"""Breach detection lag: from a deadline's due instant to its escalation row in the database.

    python bench/deadline_lag.py [--cases 200] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432]

This is a benchmark of the machinery, not a test of the SLA policy. It starts
everything it needs and stops it again, even on error:

- a Temporal dev server from the Temporal CLI, in memory, headless, on a free
  port, with one task-queue partition (`matching.numTaskqueue{Read,Write}Partitions=1`,
  as `devserver.py` tunes it) and the project's search attributes;
- a fresh database: SQLite in a temporary directory by default, or, with
  `--database-url` naming a PostgreSQL server, a temporary database created on
  that server and dropped afterwards; migrated with `store.migrate.upgrade`;
- the product's case worker (`worker.build_worker`) in this process.

Then, in real time (no time skipping), it opens N cases (`CaseWorkflow` started
directly with a `CaseStart`) at distinct instants spread evenly over one minute,
each `received_at` the instant it arrives, under a benchmark SLA policy whose
only change is a first-reply target of 90 s calendar time. No case is triaged,
so every first-reply clock warns (75 %, 90 %) and then breaches, and the N
deadlines fall within one minute. It waits (at most 60 s past the last due
instant) for every case's `sla_breached` row and reports, from the database
rows, the lag behind the due instant (`data["due_at"]` of the event):

- recorded lag = `recorded_at` - due: when the escalation reached the database;
- timer lag    = `at` - due: when the workflow woke up for the breach (workflow
  time of the task that handled the timer);
- recording    = `recorded_at` - `at`: the `record_transition` activity's share.

`recorded_at` is taken by the activity just before its INSERT, inside the
transaction: the row becomes visible to readers when that transaction commits,
a few milliseconds later. Percentiles are nearest-rank.
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
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

import temporalio  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402

from devserver import temporal_cli  # noqa: E402
from domain import search_attributes  # noqa: E402
from domain.case import Actor, CaseIntake, Role, format_case_number  # noqa: E402
from domain.sla import ClockName, SlaPolicy, Target, TargetOverride  # noqa: E402
from domain.state import CaseStart  # noqa: E402
from settings import Settings  # noqa: E402
from store.cases import CaseStore  # noqa: E402
from store.db import async_url, create_engine, session_factory  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import TimelineEventRow  # noqa: E402
from temporal_client import connect  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.case import CaseWorkflow  # noqa: E402

TASK_QUEUE = "bench-deadline-lag"
WAIT_AFTER_LAST_DUE = timedelta(seconds=60)
POLL_SECONDS = 1.0

# Only the first-reply target differs from the default policy; the default overrides
# (VIP phone, e-mail) are dropped so that every bench case gets the same 90 s.
INTAKE = CaseIntake.model_validate(
    {
        "channel": "phone",
        "customer": {"name": "Bench Customer", "phone": "+86 138 0000 0000", "tier": "normal"},
        "order": {"number": "ORD-BENCH", "paid_amount": "100.00", "currency": "CNY"},
        "product": {"sku": "KETTLE-1L"},
        "description": "The kettle is leaking.",
    }
)
RECEIVER = Actor(id="bench-agent", role=Role.AGENT)


def bench_policy(budget: timedelta) -> SlaPolicy:
    return SlaPolicy(
        version="bench",
        overrides=[TargetOverride(clock=ClockName.FIRST_REPLY, target=Target(budget=budget, business=False))],
    )


# ---- the Temporal dev server -------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # If this process is killed outright, the server must not outlive it.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MemoryDevServer:
    """`temporal server start-dev` in memory, headless, on a free port."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.address = f"127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        host, port = self.address.rsplit(":", 1)
        args = [
            str(temporal_cli()), "server", "start-dev", "--headless",
            "--ip", host, "--port", port,
            "--log-level", "warn",
            "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
        ]  # fmt: skip
        for definition in search_attributes.cli_definitions():
            args += ["--search-attribute", definition]
        return args

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own session: a Ctrl-C reaches only us, and we stop it after the worker.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited ({self.process.returncode}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def connect(self, timeout: float = 60) -> Client:
        """A client once the server answers and has registered the search attributes."""
        deadline = time.monotonic() + timeout
        wanted = {key.name for key in search_attributes.ALL}
        while True:
            self.check_alive()
            try:
                client = await connect(Settings(temporal_address=self.address))
                registered = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=client.namespace)
                )
                if wanted <= set(registered.custom_attributes):
                    return client
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Temporal dev server did not come up in {timeout:.0f} s:\n{self.log_tail()}")
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)

    def cpu_seconds(self) -> float | None:
        return _proc_cpu_seconds(self.process.pid) if self.process else None


# ---- the database ------------------------------------------------------------------------


@dataclass
class Database:
    backend: str
    url: str
    version: str
    engine: AsyncEngine


@contextlib.asynccontextmanager
async def fresh_database(server_url: str | None, directory: Path) -> AsyncIterator[Database]:
    """A new, migrated database: SQLite in `directory`, or a temporary one on a PostgreSQL server."""
    if server_url is None:
        url = f"sqlite+aiosqlite:///{directory / 'cases.db'}"
        engine = create_engine(url)
        try:
            await upgrade(engine)
            yield Database("sqlite", url, f"SQLite {sqlite3.sqlite_version}", engine)
        finally:
            await engine.dispose()
        return

    server = make_url(async_url(server_url))
    if server.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url must name a PostgreSQL server, got {server.get_backend_name()}")
    name = f"aftersales_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.set(database=server.database or "postgres").render_as_string(hide_password=False),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    try:
        async with admin.connect() as connection:
            version = (await connection.execute(text("SHOW server_version"))).scalar_one()
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = server.set(database=name).render_as_string(hide_password=False)
            engine = create_engine(url)
            try:
                await upgrade(engine)
                yield Database("postgresql", server.set(database=name).render_as_string(), f"PostgreSQL {version}", engine)
            finally:
                await engine.dispose()
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


# ---- measuring -----------------------------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (Linux /proc), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _machine_busy() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already in user
    return total - idle, total


@dataclass
class CpuSample:
    wall: float
    server: float | None
    bench: float
    machine: tuple[int, int] | None

    @classmethod
    def take(cls, server: MemoryDevServer) -> CpuSample:
        return cls(time.monotonic(), server.cpu_seconds(), time.process_time(), _machine_busy())

    def cores_since(self, before: CpuSample) -> dict[str, float | None]:
        wall = self.wall - before.wall
        if wall <= 0:
            return {}
        busy = None
        if self.machine and before.machine and self.machine[1] > before.machine[1]:
            busy = (self.machine[0] - before.machine[0]) / (self.machine[1] - before.machine[1]) * 100
        server = None if self.server is None or before.server is None else (self.server - before.server) / wall
        cores = os.cpu_count() or 1
        bench = (self.bench - before.bench) / wall
        other = None if busy is None else busy / 100 * cores - bench - (server or 0)
        return {
            "seconds": round(wall, 1),
            "temporal_server_cores": None if server is None else round(server, 2),
            "bench_process_cores": round(bench, 2),  # worker + starter + poller
            "machine_busy_pct": None if busy is None else round(busy, 1),
            # Everything else: the database server's processes, and anything else running on the machine.
            "other_cores": None if other is None else round(max(other, 0), 2),
        }


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank p50, p99 and max (and min, to show nothing fired early), in ms."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "min": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(math.ceil(p * len(ordered)) - 1, 0)], 1)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1], 1), "min": round(ordered[0], 1)}


def ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


@dataclass
class Run:
    cases: int
    budget: timedelta
    spread: timedelta
    numbers: list[str] = field(default_factory=list)
    expected_due: dict[str, datetime] = field(default_factory=dict)
    start_lateness_ms: list[float] = field(default_factory=list)


async def start_cases(client: Client, run: Run, first_arrival: datetime) -> None:
    """Case i arrives (and is started) at first_arrival + i * spread / N, received then."""
    policy = bench_policy(run.budget)
    day = first_arrival.strftime("%Y%m%d")
    loop = asyncio.get_running_loop()
    offset = first_arrival.timestamp() - time.time()  # wall clock -> loop clock, once
    base = loop.time() + offset

    async def start(number: str, received_at: datetime) -> None:
        await client.start_workflow(
            CaseWorkflow.run,
            CaseStart(number=number, intake=INTAKE, received_at=received_at, received_by=RECEIVER, policy=policy),
            id=number,
            task_queue=TASK_QUEUE,
        )
        run.start_lateness_ms.append(ms(datetime.now(timezone.utc) - received_at))

    starts = []
    for i in range(run.cases):
        step = run.spread * i / run.cases
        received_at = first_arrival + step
        number = format_case_number("BENCH", day, i + 1)
        run.numbers.append(number)
        run.expected_due[number] = received_at + run.budget
        await asyncio.sleep(max(base + step.total_seconds() - loop.time(), 0))
        starts.append(asyncio.create_task(start(number, received_at)))
    await asyncio.gather(*starts)


async def count_kind(store_engine: AsyncEngine, kind: str) -> int:
    async with store_engine.connect() as connection:
        query = select(func.count()).select_from(TimelineEventRow).where(TimelineEventRow.kind == kind)
        return (await connection.execute(query)).scalar_one()


async def wait_for_breaches(db: Database, server: MemoryDevServer, run: Run) -> int:
    """Until every case has its sla_breached row, or 60 s past the last due instant."""
    give_up = max(run.expected_due.values()) + WAIT_AFTER_LAST_DUE
    last_report = 0.0
    while True:
        server.check_alive()
        found = await count_kind(db.engine, "sla_breached")
        if found >= run.cases or datetime.now(timezone.utc) > give_up:
            return found
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            first_due = min(run.expected_due.values())
            to_go = (first_due - datetime.now(timezone.utc)).total_seconds()
            when = f"first due in {to_go:.0f} s" if to_go > 0 else f"{found}/{run.cases} breached"
            log(f"waiting: {when}")
        await asyncio.sleep(POLL_SECONDS)


async def breach_rows(db: Database) -> list[tuple[str, datetime, datetime | None, dict[str, Any]]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            select(TimelineEventRow.case_number, TimelineEventRow.at, TimelineEventRow.recorded_at, TimelineEventRow.data)
            .where(TimelineEventRow.kind == "sla_breached")
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


# ---- the run -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cli_version() -> str:
    try:
        out = subprocess.run([str(temporal_cli()), "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({error})"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    run = Run(cases=args.cases, budget=timedelta(seconds=args.budget), spread=timedelta(seconds=args.spread))
    with tempfile.TemporaryDirectory(prefix="deadline-lag-") as tmp:
        directory = Path(tmp)
        server = MemoryDevServer(directory / "temporal.log")
        try:
            server.start()
            log(f"Temporal dev server (in memory) starting on {server.address}")
            client = await server.connect()
            async with fresh_database(args.database_url, directory) as db:
                log(f"database: {db.version} at {db.url}")
                store = CaseStore(session_factory(db.engine), number_prefix="BENCH")
                # A bug in workflow code fails the case at once instead of retrying its task forever.
                async with build_worker(client, store, TASK_QUEUE, workflow_failure_exception_types=[Exception]):
                    setup_s = time.monotonic() - began
                    first_arrival = datetime.now(timezone.utc) + timedelta(seconds=1)
                    log(
                        f"opening {run.cases} cases over {run.spread.total_seconds():g} s; first-reply target "
                        f"{run.budget.total_seconds():g} s, so deadlines fall from "
                        f"{(first_arrival + run.budget).astimezone().strftime('%H:%M:%S')}"
                    )
                    cpu_start = CpuSample.take(server)
                    await start_cases(client, run, first_arrival)
                    started_s = time.monotonic() - began
                    log(f"all {run.cases} started; latest start {max(run.start_lateness_ms):.0f} ms after its arrival")
                    first_due = min(run.expected_due.values())
                    await asyncio.sleep(max((first_due - datetime.now(timezone.utc)).total_seconds(), 0))
                    cpu_due = CpuSample.take(server)
                    found = await wait_for_breaches(db, server, run)
                    cpu_end = CpuSample.take(server)
                    waited_s = time.monotonic() - began
                    rows = await breach_rows(db)
                    warnings = await count_kind(db.engine, "sla_warning")
                    received = await count_kind(db.engine, "received")
            log("stopping")
        except Exception:
            tail = server.log_tail()
            if tail:
                log(f"Temporal dev server log (last lines):\n{tail}")
            raise
        finally:
            await server.stop()

    mine = {n: run.expected_due[n] for n in run.numbers}
    recorded, timer, recording, due_instants, mismatched = [], [], [], [], 0
    for number, at, recorded_at, data in rows:
        if number not in mine:
            continue
        due = datetime.fromisoformat(data["due_at"])
        mismatched += due != mine[number]
        due_instants.append(due)
        timer.append(ms(at - due))
        if recorded_at is not None:
            recorded.append(ms(recorded_at - due))
            recording.append(ms(recorded_at - at))
    return {
        "cases": run.cases,
        "backend": db.backend,
        "breached": len(timer),
        "missing": run.cases - len(timer),
        "recorded_lag_ms": percentiles(recorded),
        "timer_lag_ms": percentiles(timer),
        "recording_ms": percentiles(recording),
        "due_spread_s": round((max(due_instants) - min(due_instants)).total_seconds(), 2) if due_instants else None,
        "due_at_mismatches": mismatched,
        "events": {"received": received, "sla_warning": warnings, "sla_breached": found},
        "start_lateness_ms": percentiles(run.start_lateness_ms),
        "first_reply_target_s": run.budget.total_seconds(),
        "cpu": {
            "opening_cases": cpu_due.cores_since(cpu_start),
            "breach_window": cpu_end.cores_since(cpu_due),
        },
        "durations_s": {
            "setup": round(setup_s, 1),
            "opening_cases_done": round(started_s, 1),
            "all_breached": round(waited_s, 1),
            "total": round(time.monotonic() - began, 1),
        },
        "machine": {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform()},
        "versions": {
            "python": platform.python_version(),
            "temporalio": temporalio.__version__,
            "temporal_cli": cli_version(),
            "database": db.version,
        },
        "temporal_server": "dev server in memory, 1 task-queue partition",
    }


def table(result: dict[str, Any]) -> str:
    def row(label: str, figures: dict[str, float | None]) -> str:
        cells = "".join(f"{'-' if figures[k] is None else figures[k]:>10}" for k in ("p50", "p99", "max", "min"))
        return f"  {label:<34}{cells}"

    cpu = result["cpu"]["breach_window"]
    lines = [
        f"Breach detection lag: {result['breached']}/{result['cases']} cases breached "
        f"({result['missing']} missing), due instants spread over {result['due_spread_s']} s",
        f"  backend {result['versions']['database']}; {result['temporal_server']}; worker in-process",
        "",
        f"  {'ms after the due instant':<34}{'p50':>10}{'p99':>10}{'max':>10}{'min':>10}",
        row("recorded lag (recorded_at - due)", result["recorded_lag_ms"]),
        row("timer lag (at - due)", result["timer_lag_ms"]),
        row("recording (recorded_at - at)", result["recording_ms"]),
        "",
        f"  events: {result['events']}; due_at mismatches: {result['due_at_mismatches']}",
        f"  start lateness (ms after arrival): {result['start_lateness_ms']}",
        f"  CPU over the breach window ({cpu.get('seconds')} s): Temporal server {cpu.get('temporal_server_cores')} cores, "
        f"bench process {cpu.get('bench_process_cores')} cores, everything else {cpu.get('other_cores')} cores "
        f"(machine {cpu.get('machine_busy_pct')} % busy)",
        f"  durations (s): {result['durations_s']}",
        f"  machine: {result['machine']['cpus']} CPUs, {result['machine']['cpu_model']}",
        f"  versions: Python {result['versions']['python']}, temporalio {result['versions']['temporalio']}, "
        f"{result['versions']['temporal_cli']}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases whose deadlines fall within the spread (default 200)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432): a temporary database is "
        "created on it and dropped afterwards. Default: SQLite in a temporary directory",
    )
    parser.add_argument("--budget", type=float, default=90, help="first-reply target in seconds (default 90)")
    parser.add_argument("--spread", type=float, default=60, help="seconds over which cases arrive (default 60)")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    if args.budget <= 0 or args.spread < 0:
        parser.error("--budget must be positive and --spread not negative")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)  # clean up on SIGTERM as on Ctrl-C
    result = await bench(args)
    print(table(result))
    print(json.dumps(result, default=str))
    return 0 if result["missing"] == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; everything it started is stopped")
        sys.exit(130)
