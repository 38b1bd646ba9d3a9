"""The bare baseline: a workflow of the same shape as a case's closed loop, with no product in it.

The shape is counted from a real `CaseWorkflow` history of the closed loop receipt → triage →
accept → plan → approve → execute → feedback → closed (tests/bench/test_bare_shape.py compares
the two histories): 6 updates (one with the start), 3 local activities, 6 regular activities,
a deadline timer while the case waits, in the same order and the same places:

    start + update `receipt` (returns once the first two writes ran)
      2 local activities: suggest, record received
    update triage   → 1 activity       update accept   → 1 activity
    update plan     → 1 activity       update approve  → 1 activity
      main loop: 1 activity (execute), 1 local activity (record executed)
    update feedback → 1 activity; the workflow stays open at `closed`, waiting on a timer

As in the product, a write in an update is a regular activity scheduled with the update's
acceptance (workflows/case/recorder.py `_own_activity`, RECORD_AFTER_ACCEPT) and the workflow's
own writes are local activities (LOCAL_SIDE_EFFECTS). While it waits, a durable timer stands for
the next SLA deadline (`timer_s`, a day by default, which no bench reaches; every change cancels
it and starts another, as the product's deadline loop does). The end point is the product's:
`closed`, not archived (a closed case waits a week for its fix check).

Each activity is a trivial write: one single-row INSERT into `bench_write` of the same SQLite
database the product writes to, through the same SQLAlchemy async engine kind. Updates have
validators that check the stage, like the product's, and a lock orders the writes, like the
product's case lock. The worker runs in the product's sandbox with the same passthrough
(worker.SANDBOX, plus this module as the product passes its own workflow module). No search
attributes, no patch markers, no pydantic, no action signatures verified.
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

# The write that marks the execution done (the driver polls for it), and the shape of the closed
# loop, counted from a product history (the README's table; tests/bench/test_bare_shape.py).
EXECUTED_SEQ = 8
UPDATES = 6
LOCAL_ACTIVITIES = 3
REGULAR_ACTIVITIES = 6
# The next SLA deadline while a case waits: far enough that no bench reaches it.
DEADLINE_S = 86400.0

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
    async def run(self, wf_id: str, timer_s: float = DEADLINE_S) -> int:
        """`timer_s`: while waiting for an update, also wait on one durable timer of that length,
        as an open case waits on its next SLA deadline (0: no timer). Never returns: like a case,
        it stays open at `closed`."""
        async with self._lock:
            await self._write("suggest", local=True)
            await self._write("record", stage="received", local=True)
        while True:
            if self._stage == "executing":
                async with self._lock:
                    await self._write("execute")
                    await self._write("record", stage="awaiting_feedback", local=True)
            else:
                seen = self._changes
                try:
                    await workflow.wait_condition(
                        lambda: self._changes != seen,  # noqa: B023 - awaited within this iteration
                        timeout=timedelta(seconds=timer_s) if timer_s > 0 else None,
                    )
                except TimeoutError:
                    pass

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

    async def _write(self, name: str, stage: str | None = None, *, local: bool = False) -> None:
        # Like the product: the new stage is set before the write that records it.
        if stage is not None:
            self._stage = stage
        self._seq += 1
        self._changes += 1
        args = [workflow.info().workflow_id, self._seq]
        if local:
            await workflow.execute_local_activity(
                "bench_write", args=args, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
            )
        else:
            await workflow.execute_activity(
                "bench_write", args=args, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
            )
        self._recorded = self._seq


@workflow.defn(name="BareDeadlineWorkflow")
class BareDeadlineWorkflow:
    """The bare baseline of bench/deadline_lag.py: a one-row INSERT at start (seq 0, as the product
    records its receipt: the bench counts the cases the worker has taken in by it), then one durable
    timer to each due instant (epoch seconds) and one one-row INSERT as a local activity (as the
    product records an SLA event). No state, no search attributes, no pydantic."""

    @workflow.run
    async def run(self, wf_id: str, due: list[float]) -> int:
        await workflow.execute_local_activity(
            "bench_write", args=[wf_id, 0], start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
        )
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


def bare_sandbox(runner: Any = None) -> Any:
    """The product's sandbox runner (`worker.SANDBOX`, or the one a bench option gave the product)
    with this module passed through too, as the product passes through its own workflow module;
    any other runner (unsandboxed) as it is."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from worker import SANDBOX

    runner = runner or SANDBOX
    if isinstance(runner, SandboxedWorkflowRunner):
        return SandboxedWorkflowRunner(restrictions=runner.restrictions.with_passthrough_modules("bench"))
    return runner


def build_bare_worker(client: Client, engine: Any, task_queue: str, **options: Any) -> Worker:
    """The bare workflow's worker: the product's sandbox and passthrough, the same options as the product's."""
    runner = bare_sandbox(options.pop("workflow_runner", None))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow, BareDeadlineWorkflow],
        activities=[BareActivities(engine).bench_write],
        workflow_runner=runner,
        **options,
    )
