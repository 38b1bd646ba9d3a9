"""The bare baseline: a workflow of the same shape as a case's closed loop, with no product in it.

Same number of activities (10) and updates (6, one of them with the start) as
`CaseWorkflow` on the path receipt → triage → accept → plan → approve →
execute → feedback → archive, in the same order and the same places:

    start + update `receipt` (returns once the first two activities ran)
      2 activities: suggest, record received
    update triage   → 1 activity       update accept   → 1 activity
    update plan     → 1 activity       update approve  → 1 activity
      main loop: 2 activities (execute, record executed)
    update feedback → 1 activity
      main loop: 1 activity (record archived), then the workflow completes

Each activity is a trivial write: one single-row INSERT into `bench_write` of
the same SQLite database the product writes to, through the same SQLAlchemy
async engine kind. Updates have validators that check the stage, like the
product's, and a lock orders the writes, like the product's case lock. No
search attributes, no pydantic, no SLA clocks, no timers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

BENCH_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_write ("
    " wf TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, PRIMARY KEY (wf, seq))"
)

# The stage after which the feedback update is accepted, and the write that marks it.
EXECUTED_SEQ = 8
ACTIVITIES = 10
UPDATES = 6

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self._stage = "received"
        self._seq = 0
        self._recorded = 0
        self._lock = asyncio.Lock()
        self._changes = 0

    @workflow.run
    async def run(self, wf_id: str, timer_s: float = 0) -> int:
        """`timer_s` > 0: while waiting for an update, also wait on one durable timer of that
        length, as an open case waits on its next SLA deadline (bench/idle.py)."""
        async with self._lock:
            await self._write("suggest")
            await self._write("record", stage="received")
        while self._stage != "archived":
            if self._stage == "executing":
                async with self._lock:
                    await self._write("execute")
                    await self._write("record", stage="awaiting_feedback")
            elif self._stage == "closed":
                async with self._lock:
                    await self._write("record", stage="archived")
            else:
                seen = self._changes
                try:
                    await workflow.wait_condition(
                        lambda: self._changes != seen,  # noqa: B023 - awaited within this iteration
                        timeout=timedelta(seconds=timer_s) if timer_s > 0 else None,
                    )
                except TimeoutError:
                    pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._seq

    @workflow.update
    async def receipt(self) -> int:
        await workflow.wait_condition(lambda: self._recorded >= 2)
        return self._seq

    async def _act(self, allowed: str, stage: str) -> int:
        await workflow.wait_condition(lambda: self._recorded >= 2)
        async with self._lock:
            self._check(allowed)
            await self._write("record", stage=stage)
            return self._seq

    def _check(self, allowed: str) -> None:
        if self._stage != allowed:
            raise ApplicationError(f"not allowed in {self._stage}", type="ActionNotAllowed", non_retryable=True)

    @workflow.update
    async def triage(self, who: str) -> int:
        return await self._act("received", "triaged")

    @triage.validator
    def _v_triage(self, who: str) -> None:
        self._check("received")

    @workflow.update
    async def accept(self, who: str) -> int:
        return await self._act("triaged", "in_handling")

    @accept.validator
    def _v_accept(self, who: str) -> None:
        self._check("triaged")

    @workflow.update
    async def plan(self, who: str) -> int:
        return await self._act("in_handling", "plan_proposed")

    @plan.validator
    def _v_plan(self, who: str) -> None:
        self._check("in_handling")

    @workflow.update
    async def approve(self, who: str) -> int:
        return await self._act("plan_proposed", "executing")

    @approve.validator
    def _v_approve(self, who: str) -> None:
        self._check("plan_proposed")

    @workflow.update
    async def feedback(self, who: str) -> int:
        return await self._act("awaiting_feedback", "closed")

    @feedback.validator
    def _v_feedback(self, who: str) -> None:
        self._check("awaiting_feedback")

    async def _write(self, name: str, stage: str | None = None) -> None:
        # Like the product: the new stage is set before the write that records it.
        if stage is not None:
            self._stage = stage
        self._seq += 1
        self._changes += 1
        await workflow.execute_activity(
            "bench_write",
            args=[workflow.info().workflow_id, self._seq],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RETRY,
        )
        self._recorded = self._seq


@workflow.defn(name="BareDeadlineWorkflow")
class BareDeadlineWorkflow:
    """The bare baseline of bench/deadline_lag.py: one durable timer to each due instant (epoch
    seconds), then one one-row INSERT as a local activity (as the product records an SLA event).
    No state, no search attributes, no pydantic."""

    @workflow.run
    async def run(self, wf_id: str, due: list[float]) -> int:
        for seq, at in enumerate(due, 1):
            remaining = at - workflow.now().timestamp()
            if remaining > 0:
                await workflow.sleep(remaining)
            await workflow.execute_local_activity(
                "bench_write", args=[wf_id, seq], start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
            )
        return len(due)


class BareActivities:
    def __init__(self, engine: Any) -> None:  # an AsyncEngine
        self._engine = engine

    @activity.defn(name="bench_write")
    async def bench_write(self, wf_id: str, seq: int) -> None:
        from sqlalchemy import text

        async with self._engine.begin() as connection:
            await connection.execute(
                text("INSERT OR IGNORE INTO bench_write (wf, seq, at) VALUES (:wf, :seq, :at)"),
                {"wf": wf_id, "seq": seq, "at": datetime.now(UTC).isoformat()},
            )


def build_bare_worker(client: Client, engine: Any, task_queue: str, **options: Any) -> Worker:
    """The bare workflow's worker: the SDK's default sandbox, the same options as the product's."""
    options = {k: v for k, v in options.items() if k != "workflow_runner"}
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow, BareDeadlineWorkflow],
        activities=[BareActivities(engine).bench_write],
        **options,
    )
