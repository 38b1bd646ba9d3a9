"""/cases: open a case, list and read them, and act on them."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.access import assisting_only, leads, sees
from api.deps import AppSettings, Caller, SlaRules, Store, Temporal
from api.json_body import DecimalJsonRoute
from api.problems import Problem
from api.schemas import CaseDetail, CasePage, CaseSummary, TimelineEvent
from api.sla_rules import SlaRulebook
from api.temporal_deadline import rpc_timeout, temporal_deadline
from domain.case import (
    Actor,
    Approval,
    CaseIntake,
    Category,
    CustomerReply,
    Department,
    DuplicateMark,
    ExchangeChoice,
    Feedback,
    FirstContactAnswer,
    FollowUpCompletion,
    InfoRequest,
    Note,
    Outcome,
    Priority,
    Reassignment,
    Rejection,
    Role,
    SolutionPlan,
    Stage,
    TriageDecision,
    Withdrawal,
)
from domain.sla import DeadlineExtension, SlaView
from domain.state import CaseStart, CaseState, CaseView
from settings import Settings
from store.cases import CaseFilter, CaseStore, IdempotencyKeyInFlight, IdempotencyKeyReused, KeyClaim
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["cases"], route_class=DecimalJsonRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Repeat a request safely: the same key acts once"),
]

# The largest count or sequence number the record's INTEGER columns hold (PostgreSQL's is 32-bit):
# a larger offset or `after` is refused by name instead of failing in the database.
MAX_POSITION = 2**31 - 1

# As long as the record's column; a longer one names no case.
# No control characters either: PostgreSQL cannot compare a text with a NUL in it.
CaseNumber = Annotated[
    str,
    Path(
        min_length=1, max_length=32, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$", description="The case number, e.g. AS-20261123-000001"
    ),
]

_REFUSALS = {
    "ActionNotAllowed": (409, "Action not allowed now"),
    "InvalidPlan": (422, "Invalid plan"),
    "InvalidTriage": (422, "Invalid triage"),
    "NotPermitted": (403, "Not permitted"),
    "InvalidExtension": (422, "Invalid extension"),
    "InvalidChoice": (422, "Invalid choice"),
}


def _request_hash(target: str, *parts: BaseModel | str) -> str:
    # What the request asks for, so one key reused for another request (body or target) is caught.
    payload = target + "\n" + "".join(part.model_dump_json() if isinstance(part, BaseModel) else f"{part}\n" for part in parts)
    return hashlib.sha256(payload.encode()).hexdigest()


def _key_reused() -> Problem:
    return Problem(422, "Idempotency key reused", "this Idempotency-Key was already used with a different request body")


def _key_in_flight() -> Problem:
    return Problem(
        409,
        "Request in progress",
        "the first request with this Idempotency-Key is still running; retry once it has answered",
        headers={"Retry-After": "1"},
    )


def _not_found(number: str) -> Problem:
    # The same answer for a case that exists elsewhere as for one that does not: a handler
    # learns nothing about other departments' cases.
    return Problem(404, "Case not found", f"no case {number}")


async def _claim(store: CaseStore, settings: Settings, actor: Actor, key: str, request_hash: str, **bind: Any) -> KeyClaim:
    try:
        return await store.claim_key(actor.id, key, request_hash, lock_seconds=settings.idempotency_lock_seconds, **bind)
    except IdempotencyKeyReused:
        raise _key_reused() from None
    except IdempotencyKeyInFlight:
        raise _key_in_flight() from None


def _replayed(claim: KeyClaim, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        claim.body, status_code=claim.status or 200, headers={"Idempotent-Replayed": "true"} | (headers or {})
    )


async def _finish(store: CaseStore, actor: Actor, key: str, status: int, work: Awaitable[CaseView]) -> CaseView:
    """Run the work a claimed key stands for; store its answer, or release the key if it fails."""
    try:
        view = await work
    except BaseException:
        # Failed (a refusal, Temporal down, the client gone): a retry with the key may run it
        # again. Shielded so a cancelled request still releases; else lock_seconds frees it.
        await asyncio.shield(store.release_key(actor.id, key))
        raise
    await store.complete_key(actor.id, key, status, view.model_dump(mode="json"))
    return view


async def _live_state(handle: WorkflowHandle, settings: Settings) -> CaseState | None:
    try:
        async with temporal_deadline(settings, settings.case_query_timeout_seconds):
            return await handle.query(
                CaseWorkflow.state, rpc_timeout=timedelta(seconds=settings.case_query_timeout_seconds)
            )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _assisting(store: CaseStore, number: str, live: CaseState | None) -> list[str]:
    """The departments assisting a case: from the live state when there is one (the record
    may trail it), else from the record. Only handlers are bound to departments."""
    if live is not None:
        return [c.department.value for c in live.contributions]
    return await store.assisting(number)


async def _assisting_for(actor: Actor, store: CaseStore, number: str, live: CaseState | None) -> list[str]:
    return await _assisting(store, number, live) if actor.role is Role.HANDLER else []


async def _live_sla(handle: WorkflowHandle, settings: Settings) -> SlaView | None:
    try:
        async with temporal_deadline(settings, settings.case_query_timeout_seconds):
            return await handle.query(CaseWorkflow.sla, rpc_timeout=timedelta(seconds=settings.case_query_timeout_seconds))
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
    actor: Caller,
    idempotency_key: IdempotencyKey = None,
) -> CaseView:
    now = datetime.now(UTC)
    day = now.astimezone(ZoneInfo(settings.business_timezone)).strftime("%Y%m%d")
    if not idempotency_key:
        number = await store.next_case_number(day)
        response.headers["Location"] = f"/cases/{number}"
        return await _start_case(temporal, settings, rules, actor, intake, number, now, fresh=True)
    claim = await _claim(store, settings, actor, idempotency_key, _request_hash("POST /cases", intake), day=day)
    location = {"Location": f"/cases/{claim.number}"}
    if claim.replay:
        return _replayed(claim, location)
    response.headers.update(location)
    work = _start_case(temporal, settings, rules, actor, intake, claim.number, now, fresh=claim.first)
    return await _finish(store, actor, idempotency_key, 201, work)


async def _start_case(
    temporal: Client, settings: Settings, rules: SlaRulebook, actor: Actor, intake: CaseIntake, number: str,
    now: datetime, *, fresh: bool,
) -> CaseView:  # fmt: skip
    if not fresh:
        # A retry of a request that failed after binding this number: the case may exist already.
        state = await _live_state(temporal.get_workflow_handle(number), settings)
        if state is not None:
            return state.view()
    policy, calendar = await rules.pinned_for(now)
    start = CaseStart(
        number=number,
        intake=intake,
        received_at=now,
        received_by=actor,
        policy=policy,
        calendar=calendar,
        rules=settings.handling_rules(),
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
    async with temporal_deadline(settings):
        return await temporal.execute_update_with_start_workflow(
            CaseWorkflow.receipt, start_workflow_operation=operation, rpc_timeout=rpc_timeout(settings)
        )


@router.get("", response_model=CasePage, summary="List cases from the record")
async def list_cases(
    store: Store,
    actor: Caller,
    stage: Stage | None = None,
    priority: Priority | None = None,
    department: Department | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
) -> CasePage:
    visible_to = None
    if actor.role is Role.HANDLER:
        # A handler's list is their department's cases, whatever department they ask for;
        # unfiltered, it includes the cases their department assists.
        if department is not None and department != actor.department:
            return CasePage(items=[], total=0, limit=limit, offset=offset)
        visible_to = actor.department and actor.department.value
    filters = CaseFilter(
        stage=stage and stage.value,
        priority=priority and priority.value,
        department=department and department.value,
        category=category and category.value,
        visible_to=visible_to,
    )
    rows, total = await store.list_cases(filters, limit, offset)
    categories = await store.categories([row.number for row in rows])
    # Lists never show personal data in full.
    items = [CaseSummary.from_row(row, categories[row.number], masked=True) for row in rows]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{number}", response_model=CaseDetail, summary="One case: its record and live state")
async def get_case(
    number: CaseNumber, store: Store, temporal: Temporal, actor: Caller, settings: AppSettings
) -> CaseDetail:
    row = await store.get_case(number)
    handle = temporal.get_workflow_handle(number)
    live = await _live_state(handle, settings)
    if row is None and live is None:
        raise _not_found(number)
    if not sees(actor, live.department if live else row.department, await _assisting_for(actor, store, number, live)):  # type: ignore[union-attr]  # one is set: checked above
        raise _not_found(number)
    record = None
    if row is not None:
        record = CaseSummary.from_row(row, (await store.categories([number]))[number], masked=False)
    return CaseDetail(record=record, live=live, sla=await _live_sla(handle, settings) if live else None)


@router.get("/{number}/timeline", response_model=list[TimelineEvent], summary="Every recorded event of a case")
async def get_timeline(
    number: CaseNumber,
    store: Store,
    actor: Caller,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Only events after this sequence number (the next page)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many events, oldest first")] = 1000,
) -> list[TimelineEvent]:
    row = await store.get_case(number)
    if row is None or not sees(actor, row.department, await _assisting_for(actor, store, number, None)):
        raise _not_found(number)
    return [TimelineEvent.from_row(row) for row in await store.timeline(number, after=after, limit=limit)]


async def _act(
    temporal: Temporal,
    store: Store,
    settings: Settings,
    number: str,
    update: Any,
    args: list[Any],
    key: str | None,
) -> CaseView | JSONResponse:
    """Send an action to the case as a Temporal update; refusals become problem details.

    With an Idempotency-Key the key is claimed first (a repeat replays the first answer,
    a repeat while it runs is 409, another body is 422) and the update id derives from
    caller, action and key, so Temporal runs the action once even if the key was released.
    """
    actor: Actor = args[0]
    handle = temporal.get_workflow_handle(number)
    if actor.role is Role.HANDLER:
        # The live state, not the record: the record may trail a triage that just routed the case.
        live = await _live_state(handle, settings)
        department = live.department if live else getattr(await store.get_case(number), "department", None)
        if not sees(actor, department, await _assisting(store, number, live)):
            raise _not_found(number)
        if not leads(actor, department) and not _contributes(update):
            raise assisting_only(actor, department, number)
    if not key:
        return await _send(handle, store, settings, number, update, args, None)
    claim = await _claim(
        store, settings, actor, key, _request_hash(f"{number}/{update.__name__}", *args[1:]), number=number
    )
    if claim.replay:
        return _replayed(claim)
    work = _send(handle, store, settings, number, update, args, f"{actor.id}/{update.__name__}/{key}")
    return await _finish(store, actor, key, 200, work)


def _contributes(update: Any) -> bool:
    """The one action an assisting department's handler takes: a contribution (the case
    checks it is for their own department, naming the department it is for)."""
    return update.__name__ == "contribute"


async def _send(
    handle: WorkflowHandle, store: CaseStore, settings: Settings, number: str, update: Any, args: list[Any],
    update_id: str | None,
) -> CaseView:  # fmt: skip
    try:
        async with temporal_deadline(settings):
            return await handle.execute_update(
                update, args=args, id=update_id, result_type=CaseView, rpc_timeout=rpc_timeout(settings)
            )
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
            raise _not_found(number) from None
        raise Problem(
            409, "Action not allowed now", f"the case is {row.stage}: it accepts no more actions", case=number, stage=row.stage
        ) from None


Key = IdempotencyKey


class CaseActions:
    """What every action route needs to send its action to the case (`_act`), injected once."""

    def __init__(self, temporal: Temporal, store: Store, settings: AppSettings) -> None:
        self.temporal, self.store, self.settings = temporal, store, settings

    async def send(self, number: str, update: Any, args: list[Any], key: str | None) -> CaseView | JSONResponse:
        return await _act(self.temporal, self.store, self.settings, number, update, args, key)


Actions = Annotated[CaseActions, Depends()]


@router.post("/{number}/triage", response_model=CaseView, summary="Set category, priority and department")
async def triage(
    number: CaseNumber,
    decision: TriageDecision,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.triage, [actor, decision], idempotency_key)


@router.post("/{number}/accept", response_model=CaseView, summary="A handler takes the case")
async def accept(
    number: CaseNumber,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.accept, [actor], idempotency_key)


@router.post("/{number}/notes", response_model=CaseView, summary="Report progress")
async def add_note(
    number: CaseNumber,
    note: Note,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.add_note, [actor, note], idempotency_key)


@router.post("/{number}/info-requests", response_model=CaseView, summary="Ask the customer for information")
async def request_info(
    number: CaseNumber,
    request: InfoRequest,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.request_info, [actor, request], idempotency_key)


@router.post("/{number}/customer-replies", response_model=CaseView, summary="Relay the customer's reply")
async def customer_reply(
    number: CaseNumber,
    reply: CustomerReply,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.customer_reply, [actor, reply], idempotency_key)


@router.post("/{number}/plan", response_model=CaseView, summary="Propose a solution plan")
async def propose_plan(
    number: CaseNumber,
    plan: SolutionPlan,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.propose_plan, [actor, plan], idempotency_key)


@router.post("/{number}/approve", response_model=CaseView, summary="Approve the proposed plan")
async def approve(
    number: CaseNumber,
    actions: Actions,
    actor: Caller,
    approval: Approval | None = None,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.approve, [actor, approval or Approval()], idempotency_key)


@router.post("/{number}/reject", response_model=CaseView, summary="Reject the proposed plan with a reason")
async def reject(
    number: CaseNumber,
    rejection: Rejection,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.reject, [actor, rejection], idempotency_key)


@router.post("/{number}/feedback", response_model=CaseView, summary="Record the customer's satisfaction score")
async def record_feedback(
    number: CaseNumber,
    feedback: Feedback,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.record_feedback, [actor, feedback], idempotency_key)


@router.post("/{number}/withdraw", response_model=CaseView, summary="Withdraw the case before execution")
async def withdraw(
    number: CaseNumber,
    withdrawal: Withdrawal,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.withdraw, [actor, withdrawal], idempotency_key)


@router.post("/{number}/extensions", response_model=CaseView, summary="Extend a deadline, with a reason told to the customer")
async def extend_deadline(
    number: CaseNumber,
    extension: DeadlineExtension,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.extend_deadline, [actor, extension], idempotency_key)


@router.post(
    "/{number}/follow-up/complete",
    response_model=CaseView,
    summary="Record a resolution a person carried out by hand after every route failed",
)
async def complete_follow_up(
    number: CaseNumber,
    completion: FollowUpCompletion,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.complete_follow_up, [actor, completion], idempotency_key)


@router.post(
    "/{number}/exchange-choice",
    response_model=CaseView,
    summary="Relay the customer's choice when the exchange item is out of stock: a similar item or a refund",
)
async def choose_exchange(
    number: CaseNumber,
    choice: ExchangeChoice,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.choose_exchange, [actor, choice], idempotency_key)


@router.post("/{number}/duplicate", response_model=CaseView, summary="Close the case as a duplicate of another")
async def mark_duplicate(
    number: CaseNumber,
    mark: DuplicateMark,
    temporal: Temporal,
    store: Store,
    settings: AppSettings,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    original = await store.get_case(mark.original)
    if original is None:
        raise Problem(422, "Unknown original case", f"no case {mark.original}", field="original")
    if original.stage in (Stage.ARCHIVED.value, Stage.WITHDRAWN.value) or original.outcome == Outcome.DUPLICATE.value:
        raise Problem(
            409,
            "Original case not open",
            f"case {mark.original} is {original.stage}: link a duplicate to an open case",
            case=number,
            original=mark.original,
        )
    return await _act(temporal, store, settings, number, CaseWorkflow.mark_duplicate, [actor, mark], idempotency_key)


@router.post(
    "/{number}/first-contact-answer",
    response_model=CaseView,
    summary="Answer a simple case at first contact from the knowledge base; the survey follows",
)
async def answer_at_first_contact(
    number: CaseNumber,
    answer: FirstContactAnswer,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.answer_at_first_contact, [actor, answer], idempotency_key)


@router.post(
    "/{number}/reassign",
    response_model=CaseView,
    summary="Move the case to another department's queue or to a named handler, with a reason",
)
async def reassign(
    number: CaseNumber,
    reassignment: Reassignment,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.reassign, [actor, reassignment], idempotency_key)
