"""What both modes of deadline_lag.py share: the bench case and its policy, reading the rows the
due instants left (product: its SLA timeline events; bare: `bench_write` rows after its first), and lag
percentiles."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from temporalio.client import Client

from bench._harness import BARE_QUEUE, PRODUCT_QUEUE, Env
from domain.case import Actor, CaseIntake, Role, format_case_number
from domain.sla import ClockName, SlaPolicy, Target, TargetOverride
from domain.state import CaseStart
from workflows.case import CaseWorkflow

# Only the first-reply target differs from the default policy; the default overrides
# (VIP phone, e-mail) are dropped so that every bench case gets the same target.
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


def fractions(policy: SlaPolicy) -> list[float]:
    """Where in the target each event falls: the warnings, then the breach (1.0)."""
    return [*policy.warn_at, 1.0]


async def count_rows(env: Env, shape: str) -> int:
    query = (
        "SELECT count(*) FROM bench_write WHERE wf LIKE 'DL-BARE-%' AND seq > 0"
        if shape == "bare"
        else "SELECT count(*) FROM timeline_events WHERE kind IN ('sla_warning', 'sla_breached')"
    )
    async with env.db.engine.connect() as connection:
        return (await connection.execute(text(query))).scalar_one()


@dataclass
class Row:
    wf_id: str
    fraction: float
    recorded_at: datetime
    at: datetime | None = None  # the event's workflow time (product)
    due_at: datetime | None = None  # as the product recorded it


def _utc(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def event_rows(env: Env, shape: str, fractions: Sequence[float]) -> list[Row]:
    async with env.db.engine.connect() as connection:
        if shape == "bare":
            result = await connection.execute(
                text("SELECT wf, seq, at FROM bench_write WHERE wf LIKE 'DL-BARE-%' AND seq > 0")
            )
            return [Row(wf, fractions[seq - 1], _utc(at)) for wf, seq, at in result]
        result = await connection.execute(
            text(
                "SELECT case_number, kind, at, recorded_at, data FROM timeline_events"
                " WHERE kind IN ('sla_warning', 'sla_breached')"
            )
        )
        rows = []
        for number, kind, at, recorded_at, data in result:
            data = json.loads(data) if isinstance(data, str) else data
            fraction = 1.0 if kind == "sla_breached" else float(data["fraction"])
            due_at = _utc(data["due_at"]) if kind == "sla_breached" else None
            rows.append(Row(number, fraction, _utc(recorded_at), _utc(at), due_at))
        return rows


def lag_summary(lags: Sequence[float], censored: Sequence[float] = ()) -> dict[str, Any]:
    """Nearest-rank percentiles in seconds over recorded and censored (still missing: lag so far) events."""
    values = sorted([*lags, *censored])
    if not values:
        return {"n": 0}

    def rank(p: float) -> float:
        return round(values[max(math.ceil(p * len(values)) - 1, 0)], 3)

    return {
        "n": len(values),
        "censored": len(censored),
        "p50_s": rank(0.50),
        "p90_s": rank(0.90),
        "p95_s": rank(0.95),
        "p99_s": rank(0.99),
        "max_s": round(values[-1], 3),
        "min_s": round(values[0], 3),
        # With censored events, percentiles at or above the first censored value are lower bounds.
        "lower_bound_from_s": round(min(censored), 3) if censored else None,
    }


# start(index, received_at, target) -> the workflow's id
Starter = Callable[[int, datetime, timedelta], Awaitable[str]]


def product_starter(client: Client, day: str) -> Starter:
    """`CaseWorkflow` started directly with a `CaseStart` under `bench_policy(target)`."""
    policies: dict[timedelta, SlaPolicy] = {}

    async def start(i: int, received_at: datetime, target: timedelta) -> str:
        number = format_case_number("BENCH", day, i + 1)
        policy = policies.setdefault(target, bench_policy(target))
        await client.start_workflow(
            CaseWorkflow.run,
            CaseStart(number=number, intake=INTAKE, received_at=received_at, received_by=RECEIVER, policy=policy),
            id=number,
            task_queue=PRODUCT_QUEUE,
        )
        return number

    return start


def bare_starter(client: Client, fractions: Sequence[float]) -> Starter:
    """`BareDeadlineWorkflow` with the due instants the product's case would have."""

    async def start(i: int, received_at: datetime, target: timedelta) -> str:
        wf_id = f"DL-BARE-{i + 1:06d}"
        due = [(received_at + target * f).timestamp() for f in fractions]
        await client.start_workflow("BareDeadlineWorkflow", args=[wf_id, due], id=wf_id, task_queue=BARE_QUEUE)
        return wf_id

    return start


async def bare_cases(env: Env) -> int:
    """Bare deadline workflows the worker has taken in (their first write, seq 0)."""
    async with env.db.engine.connect() as connection:
        query = "SELECT count(*) FROM bench_write WHERE wf LIKE 'DL-BARE-%' AND seq = 0"
        return (await connection.execute(text(query))).scalar_one()


async def product_cases(env: Env) -> int:
    """Bench cases the product's worker has taken in (recorded at receipt)."""
    async with env.db.engine.connect() as connection:
        return (await connection.execute(text("SELECT count(*) FROM cases WHERE number LIKE 'BENCH-%'"))).scalar_one()
