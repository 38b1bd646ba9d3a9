"""CaseWorkflow's handlers against fake activities, no database: each group (intake, handling,
approval, execution, closing) as the workflow runs it, in seconds. The fakes are registered
under the real activity names (domain/activities.py), as samples-python's
tests/hello/hello_activity_test.py does, on a task queue of their own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from domain import activities
from domain.case import (
    Approval,
    CaseIntake,
    Category,
    Department,
    Feedback,
    LedgerReceipt,
    Priority,
    SolutionPlan,
    Stage,
    StockCheck,
    TriageDecision,
    TriageRequest,
    TriageSuggestion,
)
from domain.records import RecordedTransition, ResolutionOrder, Transition
from domain.refusals import Refusal
from domain.state import CaseStart
from tests.support.people import AGENT_ACTOR, HANDLER_ACTOR, HEAD_ACTOR, OVERRIDE_REASON, PLAN, SUPERVISOR_ACTOR, intake
from workflows.case import CaseWorkflow

# As the worker runs it (worker.py): domain and workflows pass through the sandbox.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "domain", "workflows", "pydantic", "pydantic_core"
    )
)


class FakeActivities(activities.CaseActivities):
    """The outside world in memory: what was recorded, what was paid."""

    def __init__(self) -> None:
        self.recorded: list[Transition] = []
        self.orders: list[ResolutionOrder] = []

    @activity.defn(name="record_transition")
    async def record_transition(self, transition: Transition) -> RecordedTransition:
        self.recorded.append(transition)
        return RecordedTransition(number=transition.number, seq=transition.seq, kind=transition.kind, written=True)

    @activity.defn(name="record_transitions")
    async def record_transitions(self, transitions: list[Transition]) -> list[RecordedTransition]:
        return [await self.record_transition(t) for t in transitions]

    @activity.defn(name="record_failure")
    async def record_failure(self, failure: dict[str, Any]) -> None:
        raise AssertionError(f"nothing here is refused by a database: {failure}")

    @activity.defn(name="execute_resolution")
    async def execute_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        self.orders.append(order)
        return LedgerReceipt(
            reference=f"fake-{order.key}",
            resolution_type=order.type,
            amount=order.amount,
            currency=order.currency,
            executed_at=datetime.now(UTC),
            route=order.route,
        )

    @activity.defn(name="record_manual_resolution")
    async def record_manual_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        return await self.execute_resolution(order)

    @activity.defn(name="check_stock")
    async def check_stock(self, sku: str) -> StockCheck:
        return StockCheck(sku=sku, in_stock=True)

    @activity.defn(name="suggest_triage")
    async def suggest_triage(self, request: TriageRequest | str) -> TriageSuggestion:
        return TriageSuggestion(
            categories=[Category.PRODUCT_QUALITY], department=Department.QUALITY, priority=Priority.P3
        )

    @property
    def all(self) -> list:
        return [
            self.record_transition,
            self.record_transitions,
            self.record_failure,
            self.execute_resolution,
            self.record_manual_resolution,
            self.check_stock,
            self.suggest_triage,
        ]


@pytest.fixture
async def fakes(env: WorkflowEnvironment) -> AsyncIterator[tuple[FakeActivities, str]]:
    fake = FakeActivities()
    task_queue = f"fake-activities-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=task_queue, workflows=[CaseWorkflow], activities=fake.all, workflow_runner=SANDBOX
    ):
        yield fake, task_queue


async def start(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    number = f"SQ-FAKE-{uuid.uuid4().hex[:8]}"
    received = datetime.now(UTC)
    case = CaseStart(
        number=number, intake=CaseIntake.model_validate(intake()), received_at=received, received_by=AGENT_ACTOR
    )
    handle = await env.client.start_workflow(CaseWorkflow.run, case, id=number, task_queue=task_queue)
    await handle.execute_update(CaseWorkflow.receipt)
    return handle


async def to_plan(handle: WorkflowHandle, priority: Priority) -> None:
    decision = TriageDecision(
        categories=[Category.PRODUCT_QUALITY],
        priority=priority,
        department=Department.QUALITY,
        override_reason=OVERRIDE_REASON,
    )
    await handle.execute_update(CaseWorkflow.triage, args=[AGENT_ACTOR, decision])
    await handle.execute_update(CaseWorkflow.accept, args=[HANDLER_ACTOR])
    await handle.execute_update(CaseWorkflow.propose_plan, args=[HANDLER_ACTOR, SolutionPlan.model_validate(PLAN)])


async def test_a_refund_case_runs_from_receipt_to_feedback_on_fake_activities(
    env: WorkflowEnvironment, fakes: tuple[FakeActivities, str]
) -> None:
    fake, task_queue = fakes
    handle = await start(env, task_queue)
    await to_plan(handle, Priority.P3)
    view = await handle.execute_update(CaseWorkflow.approve, args=[SUPERVISOR_ACTOR, Approval()])
    assert view.stage is Stage.EXECUTING

    async def awaiting_feedback() -> bool:
        return (await handle.query(CaseWorkflow.state)).stage is Stage.AWAITING_FEEDBACK

    for _ in range(100):
        if await awaiting_feedback():
            break
        await asyncio.sleep(0.05)  # real time: the fakes answer at once
    assert await awaiting_feedback()
    # The refund went to the customer's original route first, once, for what was paid.
    assert [(o.type.value, str(o.amount), o.route) for o in fake.orders] == [("refund", "899.00", "original")]
    kinds = [t.kind.value for t in fake.recorded]
    assert kinds[:5] == ["received", "triaged", "accepted", "plan_proposed", "plan_approved"]
    assert "resolution_executed" in kinds
    # Sequence numbers follow the state's order, one each, from 1.
    assert [t.seq for t in fake.recorded] == list(range(1, len(kinds) + 1))
    proposed = next(t for t in fake.recorded if t.kind.value == "plan_proposed")
    assert proposed.data["approver"] == "supervisor"

    view = await handle.execute_update(CaseWorkflow.record_feedback, args=[AGENT_ACTOR, Feedback(score=5)])
    assert view.stage is Stage.CLOSED


async def test_a_p2_plan_approved_by_a_module_lead_is_refused_with_the_role_it_needs(
    env: WorkflowEnvironment, fakes: tuple[FakeActivities, str]
) -> None:
    _fake, task_queue = fakes
    handle = await start(env, task_queue)
    await to_plan(handle, Priority.P2)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.approve, args=[SUPERVISOR_ACTOR, Approval()])
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == Refusal.NOT_PERMITTED
    assert cause.details[0] == {"required_role": "head"}
    assert "for a P2 case the plan needs approval by the after-sales head" in cause.message
    assert (await handle.execute_update(CaseWorkflow.approve, args=[HEAD_ACTOR, Approval()])).stage is Stage.EXECUTING


async def test_a_refund_above_what_was_paid_is_refused_naming_the_amount(
    env: WorkflowEnvironment, fakes: tuple[FakeActivities, str]
) -> None:
    fake, task_queue = fakes
    handle = await start(env, task_queue)
    decision = TriageDecision(
        categories=[Category.PRODUCT_QUALITY],
        priority=Priority.P3,
        department=Department.QUALITY,
        override_reason=OVERRIDE_REASON,
    )
    await handle.execute_update(CaseWorkflow.triage, args=[AGENT_ACTOR, decision])
    await handle.execute_update(CaseWorkflow.accept, args=[HANDLER_ACTOR])
    too_much = SolutionPlan.model_validate(
        PLAN | {"resolution": {"type": "refund", "amount": "900.00", "currency": "CNY"}}
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.propose_plan, args=[HANDLER_ACTOR, too_much])
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == Refusal.INVALID_PLAN
    assert cause.details[0] == {"field": "resolution.amount"}
    assert cause.message == "refund of 900.00 exceeds the 899.00 paid for the order"
    # Refused in the validator: nothing was recorded for it.
    assert [t.kind.value for t in fake.recorded][-1] == "accepted"
