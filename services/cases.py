"""Reading a case's live state from Temporal and starting a case: what the case routes and the
action dependency (api/deps.py) share. Temporal's silence raises TemporalDidNotAnswer."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.answer_form import brief_answers
from core.settings import Settings
from domain.case import Actor, CaseIntake
from domain.marketplace import PlatformLink
from domain.search_attributes import PLATFORM_AFTER_SALE
from domain.sla import SlaView
from domain.state import CaseBrief, CaseStart, CaseState, CaseView
from services.sla_rules import SlaRulebook
from services.temporal_calls import rpc_timeout, temporal_deadline
from store.cases import CaseStore
from workflows.case import CaseWorkflow


async def _query(handle: WorkflowHandle, query: Any, settings: Settings) -> Any:
    """A query of the case's live workflow within the case query deadline; None for no such case."""
    try:
        async with temporal_deadline(settings, settings.case_query_timeout_seconds):
            return await handle.query(query, rpc_timeout=timedelta(seconds=settings.case_query_timeout_seconds))
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


async def live_state(handle: WorkflowHandle, settings: Settings) -> CaseState | None:
    return await _query(handle, CaseWorkflow.state, settings)


async def assisting(store: CaseStore, number: str, live: CaseState | None) -> list[str]:
    """The departments assisting a case: from the live state when there is one (the record
    may trail it), else from the record. Only handlers are bound to departments."""
    if live is not None:
        return [c.department.value for c in live.contributions]
    return await store.assisting(number)


async def live_sla(handle: WorkflowHandle, settings: Settings) -> SlaView | None:
    return await _query(handle, CaseWorkflow.sla, settings)


def _case_start(
    settings: Settings, actor: Actor, intake: CaseIntake, number: str, now: datetime, pinned: tuple[Any, Any],
    platform: PlatformLink | None,
) -> tuple[CaseStart, dict[str, Any]]:  # fmt: skip
    """The case's start input and the options of its start, alike for both ways of opening it."""
    policy, calendar = pinned
    start = CaseStart(
        number=number,
        intake=intake,
        received_at=now,
        received_by=actor,
        policy=policy,
        calendar=calendar,
        rules=settings.handling_rules(),
        platform=platform,
        console_url=settings.console_public_url,
    )
    options: dict[str, Any] = {
        "id": number,
        "task_queue": settings.task_queue,
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        # A finished case keeps its number for good: never start it again.
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "static_summary": f"After-sales case {number} from {intake.channel.value} ({intake.customer.tier.value} customer)"
        + (f", {platform.platform.value} after-sale {platform.after_sale_id}" if platform else ""),
        # Set once at the start: the after-sale a case stands for never changes.
        "search_attributes": TypedSearchAttributes([SearchAttributePair(PLATFORM_AFTER_SALE, platform.key)])
        if platform
        else None,
    }
    return start, options


async def start_case(
    temporal: Client, settings: Settings, rules: SlaRulebook, actor: Actor, intake: CaseIntake, number: str,
    now: datetime, *, fresh: bool, platform: PlatformLink | None = None, brief: bool = False,
) -> CaseView | CaseBrief:  # fmt: skip
    """Open the case and answer once it is recorded: with its view, or `brief`ly for a caller that
    reads the case elsewhere (workflows/answer_form.py)."""
    if not fresh:
        # A retry of a request that failed after binding this number: the case may exist already.
        state = await live_state(temporal.get_workflow_handle(number), settings)
        if state is not None:
            return state.brief() if brief else state.view()
    start, options = _case_start(settings, actor, intake, number, now, await rules.pinned_for(now), platform)
    operation = WithStartWorkflowOperation(CaseWorkflow.run, start, **options)
    async with temporal_deadline(settings):
        with brief_answers() if brief else nullcontext():
            return await temporal.execute_update_with_start_workflow(
                "receipt",  # by name: the SDK types the method's answer as declared (the view)
                start_workflow_operation=operation,
                result_type=CaseBrief if brief else CaseView,
                rpc_timeout=rpc_timeout(settings),
            )


async def start_case_async(
    temporal: Client, settings: Settings, rules: SlaRulebook, actor: Actor, intake: CaseIntake, number: str,
    now: datetime,
) -> None:  # fmt: skip
    """Start the case and return once Temporal has accepted the start (issue 19 §3): the worker
    records it moments later. A retry finds the case started (the same number, the existing run)."""
    start, options = _case_start(settings, actor, intake, number, now, await rules.pinned_for(now), None)
    try:
        async with temporal_deadline(settings):
            await temporal.start_workflow(CaseWorkflow.run, start, **options, rpc_timeout=rpc_timeout(settings))
    except WorkflowAlreadyStartedError:
        pass  # finished already under this number: it was opened, which is what the caller asked


async def started(temporal: Client, settings: Settings, number: str) -> bool:
    """Whether Temporal has a case under this number (started, maybe not yet recorded): a
    description, which the server answers without the worker."""
    try:
        async with temporal_deadline(settings):
            await temporal.get_workflow_handle(number).describe(rpc_timeout=rpc_timeout(settings))
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
