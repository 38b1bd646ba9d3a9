"""/cases: open a case, list and read them, and act on them."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AppSettings, SlaRules, Store, Temporal, require
from api.problems import Problem
from api.schemas import CaseDetail, CasePage, CaseSummary, TimelineEvent
from domain.case import (
    Actor,
    Approval,
    CaseIntake,
    Category,
    CustomerReply,
    Department,
    Feedback,
    InfoRequest,
    Note,
    Priority,
    Rejection,
    Role,
    SolutionPlan,
    Stage,
    TriageDecision,
    Withdrawal,
)
from domain.sla import DeadlineExtension, SlaView
from domain.state import CaseStart, CaseState, CaseView
from store.cases import CaseFilter, IdempotencyKeyReused
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["cases"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Repeat a request safely: the same key acts once"),
]

# As long as the record's column; a longer one names no case.
CaseNumber = Annotated[str, Path(min_length=1, max_length=32, description="The case number, e.g. AS-20261123-000001")]

_REFUSALS = {
    "ActionNotAllowed": (409, "Action not allowed now"),
    "InvalidPlan": (422, "Invalid plan"),
    "NotPermitted": (403, "Not permitted"),
    "InvalidExtension": (422, "Invalid extension"),
}


def _request_hash(*parts: BaseModel) -> str:
    return hashlib.sha256("".join(part.model_dump_json() for part in parts).encode()).hexdigest()


def _key_reused() -> Problem:
    return Problem(422, "Idempotency key reused", "this Idempotency-Key was already used with a different request body")


async def _live_state(handle: WorkflowHandle) -> CaseState | None:
    try:
        return await handle.query(CaseWorkflow.state)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _live_sla(handle: WorkflowHandle) -> SlaView | None:
    try:
        return await handle.query(CaseWorkflow.sla)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


@router.post("", status_code=201, response_model=CaseView, summary="Open a case")
async def open_case(
    intake: CaseIntake,
    response: Response,
    store: Store,
    temporal: Temporal,
    settings: AppSettings,
    rules: SlaRules,
    actor: Annotated[Actor, Depends(require(Role.AGENT, Role.SUPERVISOR, Role.HEAD))],
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    now = datetime.now(timezone.utc)
    day = now.astimezone(ZoneInfo(settings.business_timezone)).strftime("%Y%m%d")
    first = True
    if idempotency_key:
        try:
            number, first = await store.case_number_for_key(actor.id, idempotency_key, _request_hash(intake), day)
        except IdempotencyKeyReused:
            raise _key_reused() from None
    else:
        number = await store.next_case_number(day)
    response.headers["Location"] = f"/cases/{number}"
    if not first:
        response.headers["Idempotent-Replayed"] = "true"
        state = await _live_state(temporal.get_workflow_handle(number))
        if state is not None:
            return state.view()
    policy, calendar = await rules.pinned_for(now)
    start = CaseStart(
        number=number, intake=intake, received_at=now, received_by=actor, policy=policy, calendar=calendar
    )
    operation = WithStartWorkflowOperation(
        CaseWorkflow.run,
        start,
        id=number,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A finished case keeps its number for good: never start it again.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"After-sales case {number} from {intake.channel.value} ({intake.customer.tier.value} customer)",
    )
    return await temporal.execute_update_with_start_workflow(CaseWorkflow.receipt, start_workflow_operation=operation)


@router.get("", response_model=CasePage, summary="List cases from the record")
async def list_cases(
    store: Store,
    actor: Annotated[Actor, Depends(require(*Role))],
    stage: Stage | None = None,
    priority: Priority | None = None,
    department: Department | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CasePage:
    filters = CaseFilter(
        stage=stage and stage.value,
        priority=priority and priority.value,
        department=department and department.value,
        category=category and category.value,
    )
    rows, total = await store.list_cases(filters, limit, offset)
    categories = await store.categories([row.number for row in rows])
    # Lists never show personal data in full.
    items = [CaseSummary.from_row(row, categories[row.number], masked=True) for row in rows]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{number}", response_model=CaseDetail, summary="One case: its record and live state")
async def get_case(
    number: CaseNumber, store: Store, temporal: Temporal, actor: Annotated[Actor, Depends(require(*Role))]
) -> CaseDetail:
    row = await store.get_case(number)
    handle = temporal.get_workflow_handle(number)
    live = await _live_state(handle)
    if row is None and live is None:
        raise Problem(404, "Case not found", f"no case {number}")
    record = None
    if row is not None:
        record = CaseSummary.from_row(row, (await store.categories([number]))[number], masked=False)
    return CaseDetail(record=record, live=live, sla=await _live_sla(handle) if live else None)


@router.get("/{number}/timeline", response_model=list[TimelineEvent], summary="Every recorded event of a case")
async def get_timeline(
    number: CaseNumber, store: Store, actor: Annotated[Actor, Depends(require(*Role))]
) -> list[TimelineEvent]:
    if await store.get_case(number) is None:
        raise Problem(404, "Case not found", f"no case {number}")
    return [TimelineEvent.from_row(row) for row in await store.timeline(number)]


async def _act(
    temporal: Temporal, store: Store, number: str, update: Any, args: list[Any], key: str | None
) -> CaseView:
    """Send an action to the case as a Temporal update; refusals become problem details.

    With an Idempotency-Key the update id derives from caller, action and key, so
    Temporal runs a repeated action once; the same key with another body is refused.
    """
    handle = temporal.get_workflow_handle(number)
    update_id = None
    if key:
        actor: Actor = args[0]
        update_id = f"{actor.id}/{update.__name__}/{key}"
        scoped = f"{number}/{update.__name__}/{key}"
        if len(scoped) > 255:  # the key column's length: a long key is remembered by its digest
            scoped = f"{number}/{update.__name__}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        try:
            await store.bind_action_key(actor.id, scoped, _request_hash(*args[1:]), number)
        except IdempotencyKeyReused:
            raise _key_reused() from None
    try:
        return await handle.execute_update(update, args=args, id=update_id, result_type=CaseView)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            status, title = _REFUSALS[cause.type]
            details = cause.details[0] if cause.details else {}
            raise Problem(status, title, cause.message, case=number, **details) from None
        raise
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        row = await store.get_case(number)
        if row is None:
            raise Problem(404, "Case not found", f"no case {number}") from None
        raise Problem(
            409, "Action not allowed now", f"the case is {row.stage}: it accepts no more actions", case=number, stage=row.stage
        ) from None


Key = IdempotencyKey


@router.post("/{number}/triage", response_model=CaseView, summary="Set category, priority and department")
async def triage(
    number: CaseNumber,
    decision: TriageDecision,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.AGENT, Role.SUPERVISOR, Role.HEAD))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.triage, [actor, decision], idempotency_key)


@router.post("/{number}/accept", response_model=CaseView, summary="A handler takes the case")
async def accept(
    number: CaseNumber,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.HANDLER, Role.SUPERVISOR))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.accept, [actor], idempotency_key)


@router.post("/{number}/notes", response_model=CaseView, summary="Report progress")
async def add_note(
    number: CaseNumber,
    note: Note,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.AGENT, Role.HANDLER, Role.SUPERVISOR, Role.HEAD))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.add_note, [actor, note], idempotency_key)


@router.post("/{number}/info-requests", response_model=CaseView, summary="Ask the customer for information")
async def request_info(
    number: CaseNumber,
    request: InfoRequest,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.AGENT, Role.HANDLER))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.request_info, [actor, request], idempotency_key)


@router.post("/{number}/customer-replies", response_model=CaseView, summary="Relay the customer's reply")
async def customer_reply(
    number: CaseNumber,
    reply: CustomerReply,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.AGENT))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.customer_reply, [actor, reply], idempotency_key)


@router.post("/{number}/plan", response_model=CaseView, summary="Propose a solution plan")
async def propose_plan(
    number: CaseNumber,
    plan: SolutionPlan,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.HANDLER))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.propose_plan, [actor, plan], idempotency_key)


@router.post("/{number}/approve", response_model=CaseView, summary="Approve the proposed plan")
async def approve(
    number: CaseNumber,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.SUPERVISOR, Role.HEAD))],
    approval: Approval | None = None,
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.approve, [actor, approval or Approval()], idempotency_key)


@router.post("/{number}/reject", response_model=CaseView, summary="Reject the proposed plan with a reason")
async def reject(
    number: CaseNumber,
    rejection: Rejection,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.SUPERVISOR, Role.HEAD))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.reject, [actor, rejection], idempotency_key)


@router.post("/{number}/feedback", response_model=CaseView, summary="Record the customer's satisfaction score")
async def record_feedback(
    number: CaseNumber,
    feedback: Feedback,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.AGENT))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.record_feedback, [actor, feedback], idempotency_key)


@router.post("/{number}/withdraw", response_model=CaseView, summary="Withdraw the case before execution")
async def withdraw(
    number: CaseNumber,
    withdrawal: Withdrawal,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.AGENT, Role.SUPERVISOR))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.withdraw, [actor, withdrawal], idempotency_key)


@router.post("/{number}/extensions", response_model=CaseView, summary="Extend a deadline, with a reason told to the customer")
async def extend_deadline(
    number: CaseNumber,
    extension: DeadlineExtension,
    temporal: Temporal,
    store: Store,
    actor: Annotated[Actor, Depends(require(Role.SUPERVISOR, Role.HEAD))],
    idempotency_key: Key = None,
) -> CaseView:
    return await _act(temporal, store, number, CaseWorkflow.extend_deadline, [actor, extension], idempotency_key)
