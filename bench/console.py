"""Console pages' server time with 10,000 cases in the database, on SQLite and PostgreSQL (issue 15).

For each database: 10,000 cases are written straight into a fresh, migrated database (one bulk
INSERT through store/'s models: stages, priorities, departments, deadlines and breaches spread as
a working desk's would be), and 20 more are opened through the API so that they run as workflows
on a worker in this process. Then, signed in through a dev link, each page is requested in turn
through the app in-process (httpx's ASGI transport: server time, no network), after a warm-up:

- the inbox of an agent, a quality handler and a supervisor (`GET /console/`);
- the case page of a running case (the record plus two queries to its workflow) and of a
  recorded case whose workflow is gone (the record only; Temporal answers "not found").

    python bench/console.py                      # both databases, 200 requests per page
    python bench/console.py --backends sqlite --requests 100 --out bench/results/console.json

PostgreSQL: a database of its own is created on --postgres-url's server and dropped afterwards.
Target (issue 15): p95 <= 150 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench._harness import DevServer, emit, log, machine, percentile, run_main, table
from core.settings import Settings
from domain.case import Actor, Department, Priority, Role, Stage
from domain.phone import phone_lookup_hash
from domain.sla import SlaState
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.migrate import upgrade
from store.models import CaseCategoryRow, CaseRow, table_of

CASES = 10_000
LIVE = 20
# One Temporal server for both databases: their case numbers (workflow ids) must differ.
PREFIX = {"sqlite": "BQ", "postgresql": "BP"}
QUEUE = "bench-console"
TARGET_P95_MS = 150
# Most of a desk's cases are finished; the open ones spread over the stages people work in.
STAGES = [
    (Stage.ARCHIVED, 40), (Stage.CLOSED, 20), (Stage.RECEIVED, 5), (Stage.TRIAGED, 5), (Stage.IN_HANDLING, 12),
    (Stage.AWAITING_CUSTOMER, 5), (Stage.PLAN_PROPOSED, 5), (Stage.AWAITING_FEEDBACK, 5), (Stage.REOPENED, 1),
    (Stage.WITHDRAWN, 2),
]  # fmt: skip
OPEN = {Stage.RECEIVED, Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER, Stage.PLAN_PROPOSED,
        Stage.AWAITING_FEEDBACK, Stage.REOPENED}  # fmt: skip
PEOPLE = {
    "agent": Actor(id="agent-li", role=Role.AGENT),
    "handler": Actor(id="handler-wang", role=Role.HANDLER, department=Department.QUALITY),
    "supervisor": Actor(id="supervisor-zhao", role=Role.SUPERVISOR),
}


def _intake(i: int) -> dict[str, Any]:
    return {
        "channel": "phone",
        "customer": {"name": "张三", "phone": f"+86 139 {i // 10000 % 10000:04d} {i % 10000:04d}", "tier": "normal"},
        "order": {"number": f"ORD-{i:07d}", "paid_amount": "299.00", "currency": "CNY"},
        "product": {"sku": f"SKU-{i % 300:03d}"},
        "description": "The kettle base cracked after two days.",
    }


def _rows(now: datetime, key: bytes, prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(15)
    stages = [stage for stage, weight in STAGES for _ in range(weight)]
    departments = list(Department)
    cases, categories = [], []
    for i in range(CASES):
        stage = rng.choice(stages)
        received = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 120))
        open_ = stage in OPEN
        department = None if stage is Stage.RECEIVED else rng.choice(departments)
        breached = open_ and rng.random() < 0.08
        level = rng.choice([1, 2]) if breached else 0
        intake = _intake(i)
        cases.append({
            "number": f"{prefix}-{received:%Y%m%d}-{i:06d}", "stage": stage.value,
            "priority": None if stage is Stage.RECEIVED else rng.choice(list(Priority)).value,
            "department": department,
            "assignee": "handler-wang" if department is Department.QUALITY and rng.random() < 0.5 else None,
            "channel": "phone", "customer_tier": "normal", "customer_name": "张三",
            "customer_phone": intake["customer"]["phone"],
            "customer_phone_hash": phone_lookup_hash(intake["customer"]["phone"], key),
            "customer_email": None, "order_number": intake["order"]["number"], "paid_amount": Decimal("299.00"),
            "currency": "CNY", "sku": intake["product"]["sku"], "description": intake["description"], "intake": intake,
            "reopen_count": 0, "escalation_level": level,
            "sla_state": (SlaState.BREACHED if breached else SlaState.ON_TRACK).value,
            "next_deadline": now + timedelta(minutes=rng.randrange(-600, 6000)) if open_ else None,
            "outcome": None, "received_at": received, "updated_at": received, "closed_at": None, "last_seq": 3,
            "escalated_to": ("supervisor" if level == 1 else "head") if breached else None,
            "escalated_at": received if breached else None, "first_breached_at": received if breached else None,
        })  # fmt: skip
        if department is not None:
            categories.append({"case_number": cases[-1]["number"], "category": "product_quality"})
    return cases, categories


async def _seed(engine: AsyncEngine, key: bytes, prefix: str) -> float:
    began = time.monotonic()
    cases, categories = _rows(datetime.now(UTC), key, prefix)
    async with engine.begin() as connection:
        for start in range(0, len(cases), 1000):
            await connection.execute(insert(table_of(CaseRow)), cases[start : start + 1000])
        await connection.execute(insert(table_of(CaseCategoryRow)), categories)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:  # committed: statistics analysed in a rolled-back transaction are lost
            await connection.execute(text("ANALYZE"))
    return time.monotonic() - began


@contextlib.asynccontextmanager
async def _database(backend: str, directory: Path, postgres_url: str) -> AsyncIterator[tuple[str, AsyncEngine]]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'console.db'}"
        engine = create_engine(url)
        try:
            await upgrade(engine)
            yield url, engine
        finally:
            await engine.dispose()
        return
    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        yield url, engine
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _timed(client: httpx.AsyncClient, paths: list[str], requests: int, warmup: int) -> dict[str, Any]:
    for i in range(warmup):
        answer = await client.get(paths[i % len(paths)])
        assert answer.status_code == 200, (paths[i % len(paths)], answer.status_code, answer.text[:300])
    seconds = []
    for i in range(requests):
        began = time.perf_counter()
        answer = await client.get(paths[i % len(paths)])
        seconds.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.status_code
    return _summary(seconds)


def _summary(seconds: list[float]) -> dict[str, Any]:
    def ms(p: float) -> float:
        return round((percentile(seconds, p) or 0) * 1000, 1)

    return {"n": len(seconds), "p50": ms(50), "p95": ms(95), "p99": ms(99), "max": round(max(seconds) * 1000, 1)}


async def _one_backend(backend: str, server: DevServer, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from api.app import create_app
    from console.app import enable_dev_sign_in
    from tests.support.people import AGENT, TEST_JWT_SECRET
    from worker import build_worker

    client = await server.connect()
    queue = f"{QUEUE}-{backend}"
    async with _database(backend, directory, args.postgres_url) as (url, engine):
        settings = Settings(
            task_queue=queue, database_url=url, temporal_address=server.address, case_number_prefix=PREFIX[backend],
            jwt_secret=TEST_JWT_SECRET, rate_limit="",
        )  # fmt: skip
        seeded_s = await _seed(engine, settings.phone_key(), PREFIX[backend])
        log(f"{backend}: {CASES} cases seeded in {seeded_s:.1f} s")
        sessions = session_factory(engine)
        app = create_app(settings, temporal=client, sessions=sessions)
        dev = enable_dev_sign_in(app)
        store = CaseStore(sessions, PREFIX[backend], phone_key=settings.phone_key())
        results: dict[str, Any] = {"seeded_s": round(seeded_s, 1)}
        async with build_worker(client, store, queue):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
                live = []
                for i in range(LIVE):
                    # A busy machine may keep the first workflow task waiting: retry, as a client would.
                    headers = AGENT | {"Idempotency-Key": f"bench-{backend}-{i}"}
                    for _ in range(5):
                        answer = await api.post("/cases", json=_intake(CASES + i), headers=headers)
                        if answer.status_code != 503:
                            break
                    assert answer.status_code == 201, answer.text
                    live.append(answer.json()["number"])
            recorded = [f"/console/cases/{n}" for n in await _recorded(engine)]
            for name, actor in PEOPLE.items():
                async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as person:
                    await person.get(f"/console/dev-sign-in/{dev.issue(actor)}")
                    results[f"inbox {name}"] = await _timed(person, ["/console/"], args.requests, args.warmup)
                    if name == "supervisor":
                        live_paths = [f"/console/cases/{n}" for n in live]
                        results["case page (running)"] = await _timed(person, live_paths, args.requests, args.warmup)
                        results["case page (record only)"] = await _timed(person, recorded, args.requests, args.warmup)
                log(f"{backend}: {name} done")
    return results


async def _recorded(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT number FROM cases WHERE stage = 'in_handling' ORDER BY number LIMIT 50")
        )
        return [row[0] for row in rows]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="aftersales-bench-console-"))
    result: dict[str, Any] = {"machine": machine(), "cases": CASES, "live_cases": LIVE, "requests": args.requests}
    async with DevServer(directory) as server:
        for backend in args.backends.split(","):
            result[backend] = await _one_backend(backend, server, args, directory)
    rows = [
        [backend, page, s["p50"], s["p95"], s["p99"], s["max"], "yes" if s["p95"] <= TARGET_P95_MS else "no"]
        for backend in args.backends.split(",")
        for page, s in result[backend].items()
        if isinstance(s, dict)
    ]
    emit(table(["database", "page", "p50 ms", "p95 ms", "p99 ms", "max ms", "p95 <= 150"], rows), result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
