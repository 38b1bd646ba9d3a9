"""/cases: open a case, list and read them, and act on them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.deps import (
    Action,
    ActionAnswer,
    AppSettings,
    Caller,
    CaseNumber,
    Key,
    SlaRules,
    Store,
    Temporal,
    TriageRulesInForce,
    add_actions,
)
from api.idempotency import claim_key, finish, replayed, request_hash
from api.json_body import DecimalJsonRoute
from api.prefer import RESPOND_ASYNC, RETURN_MINIMAL, PreferHeader, answered, preferences
from api.problems import Problem, case_not_found
from api.schemas import CaseAccepted, CaseDetail, CasePage, CaseStatus, CaseSummary, DeliveryNote, TimelineEvent
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
    TriageSuggestion,
    Withdrawal,
)
from domain.sla import DeadlineExtension
from domain.state import CaseBrief, CaseState, CaseView
from services.access import sees
from services.case_search import CaseSearch, search_cases
from services.cases import assisting, live_sla, live_state, start_case, start_case_async, started
from services.messages import deliveries
from services.triage_preview import preview_triage
from store.case_reads import CaseFilter
from store.cases import CaseStore
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["cases"], route_class=DecimalJsonRoute)

# The largest count or sequence number the record's INTEGER columns hold (PostgreSQL's is 32-bit):
# a larger offset or `after` is refused by name instead of failing in the database.
MAX_POSITION = 2**31 - 1


async def _assisting_for(actor: Actor, store: CaseStore, number: str, live: CaseState | None) -> list[str]:
    return await assisting(store, number, live) if actor.role is Role.HANDLER else []


def _accepted(number: str) -> CaseAccepted:
    return CaseAccepted(number=number, location=f"/cases/{number}", status=f"/cases/{number}/status")


def _accepted_response(answer: CaseAccepted) -> JSONResponse:
    headers = {"Location": answer.location, "Preference-Applied": RESPOND_ASYNC, "Retry-After": "1"}
    return JSONResponse(answer.model_dump(mode="json"), status_code=202, headers=headers)


def _opened(answer: CaseView | CaseBrief) -> CaseView | JSONResponse:
    return answered(answer, 201, Location=f"/cases/{answer.number}")


@router.post(
    "",
    status_code=201,
    response_model=CaseView,
    summary="Open a case",
    responses={
        202: {
            "model": CaseAccepted,
            "description": "With `Prefer: respond-async`: Temporal has the case, the record follows (see `status`)",
        }
    },
)
async def open_case(
    intake: CaseIntake,
    response: Response,
    store: Store,
    temporal: Temporal,
    settings: AppSettings,
    rules: SlaRules,
    actor: Caller,
    idempotency_key: Key = None,
    prefer: PreferHeader = None,
) -> CaseView | JSONResponse:
    now = datetime.now(UTC)
    day = now.astimezone(ZoneInfo(settings.business_timezone)).strftime("%Y%m%d")
    preferred = preferences(prefer)
    respond_async, brief = RESPOND_ASYNC in preferred, RETURN_MINIMAL in preferred
    if not idempotency_key:
        number = await store.next_case_number(day)
        if respond_async:
            await start_case_async(temporal, settings, rules, actor, intake, number, now)
            return _accepted_response(_accepted(number))
        response.headers["Location"] = f"/cases/{number}"
        return _opened(await start_case(temporal, settings, rules, actor, intake, number, now, fresh=True, brief=brief))
    claim = await claim_key(store, settings, actor, idempotency_key, request_hash("POST /cases", intake), day=day)
    location = {"Location": f"/cases/{claim.number}"}
    if claim.replay:
        return replayed(claim, location)
    if respond_async:
        number = claim.number

        async def start() -> CaseAccepted:
            await start_case_async(temporal, settings, rules, actor, intake, number, now)
            return _accepted(number)

        return _accepted_response(await finish(store, actor, idempotency_key, 202, start()))
    response.headers.update(location)
    work = start_case(temporal, settings, rules, actor, intake, claim.number, now, fresh=claim.first, brief=brief)
    return _opened(await finish(store, actor, idempotency_key, 201, work))


@router.get("/{number}/status", response_model=CaseStatus, summary="Whether a case opened asynchronously is recorded")
async def case_status(
    number: CaseNumber, store: Store, temporal: Temporal, actor: Caller, settings: AppSettings
) -> CaseStatus:
    row = await store.get_case(number)
    if row is None:
        # Not recorded yet: known to Temporal, or to nobody. Nobody but its department sees a routed case.
        if not sees(actor, None, []) or not await started(temporal, settings, number):
            raise case_not_found(number)
        return CaseStatus(number=number, recorded=False, location=f"/cases/{number}")
    if not sees(actor, row.department, await _assisting_for(actor, store, number, None)):
        raise case_not_found(number)
    return CaseStatus(number=number, recorded=True, stage=row.stage, location=f"/cases/{number}")


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


@router.post(
    "/triage-preview",
    response_model=TriageSuggestion,
    summary="The triage suggestion an intake would get, without opening a case",
)
async def triage_preview(
    intake: CaseIntake, store: Store, rules: TriageRulesInForce, actor: Caller
) -> TriageSuggestion:
    return await preview_triage(store, rules, intake)


@router.post(
    "/search",
    response_model=CasePage,
    summary="Find cases by number, order, the customer's phone, SKU, days received, assignee, SLA state, stage",
    description="A POST so that a phone number never travels in a URL (access logs, proxies, browser history).",
)
async def search(criteria: CaseSearch, store: Store, actor: Caller, settings: AppSettings) -> CasePage:
    found = await search_cases(store, actor, criteria, settings.business_timezone)
    items = [CaseSummary.from_row(row, found.categories[row.number], masked=True) for row in found.rows]
    return CasePage(items=items, total=found.total, limit=found.limit, offset=found.offset)


@router.get("/{number}", response_model=CaseDetail, summary="One case: its record and live state")
async def get_case(
    number: CaseNumber, store: Store, temporal: Temporal, actor: Caller, settings: AppSettings
) -> CaseDetail:
    row = await store.get_case(number)
    handle = temporal.get_workflow_handle(number)
    live = await live_state(handle, settings)
    if row is None and live is None:
        raise case_not_found(number)
    department = live.department if live is not None else (row.department if row is not None else None)
    if not sees(actor, department, await _assisting_for(actor, store, number, live)):
        raise case_not_found(number)
    record = None
    if row is not None:
        record = CaseSummary.from_row(row, (await store.categories([number]))[number], masked=False)
    return CaseDetail(record=record, live=live, sla=await live_sla(handle, settings) if live else None)


@router.get("/{number}/timeline", response_model=list[TimelineEvent], summary="Every recorded event of a case")
async def get_timeline(
    number: CaseNumber,
    store: Store,
    actor: Caller,
    settings: AppSettings,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Only events after this sequence number (the next page)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many events, oldest first")] = 1000,
) -> list[TimelineEvent]:
    row = await store.get_case(number)
    if row is None or not sees(actor, row.department, await _assisting_for(actor, store, number, None)):
        raise case_not_found(number)
    told = await deliveries(store.sessions, number, ZoneInfo(settings.business_timezone))
    return [
        TimelineEvent.from_row(event).model_copy(
            update={
                "deliveries": [DeliveryNote.model_validate(d, from_attributes=True) for d in told.get(event.seq, [])]
            }
        )
        for event in await store.timeline(number, after=after, limit=limit)
    ]


@router.post("/{number}/accept", response_model=CaseView, summary="A handler takes the case")
async def accept(action: Action) -> ActionAnswer:
    return await action.send(CaseWorkflow.accept)


@router.post("/{number}/approve", response_model=CaseView, summary="Approve the proposed plan")
async def approve(action: Action, approval: Approval | None = None) -> ActionAnswer:
    return await action.send(CaseWorkflow.approve, approval or Approval())


@router.post("/{number}/duplicate", response_model=CaseView, summary="Close the case as a duplicate of another")
async def mark_duplicate(mark: DuplicateMark, store: Store, action: Action) -> ActionAnswer:
    original = await store.get_case(mark.original)
    if original is None:
        raise Problem(422, "Unknown original case", f"no case {mark.original}", field="original")
    if original.stage in (Stage.ARCHIVED.value, Stage.WITHDRAWN.value) or original.outcome == Outcome.DUPLICATE.value:
        raise Problem(
            409,
            "Original case not open",
            f"case {mark.original} is {original.stage}: link a duplicate to an open case",
            case=action.number,
            original=mark.original,
        )
    return await action.send(CaseWorkflow.mark_duplicate, mark)


# The actions that send one body to the case and answer its view: (path, update, body, summary).
SIMPLE_ACTIONS = [
    ("/{number}/triage", CaseWorkflow.triage, TriageDecision, "Set category, priority and department"),
    ("/{number}/notes", CaseWorkflow.add_note, Note, "Report progress"),
    ("/{number}/info-requests", CaseWorkflow.request_info, InfoRequest, "Ask the customer for information"),
    ("/{number}/customer-replies", CaseWorkflow.customer_reply, CustomerReply, "Relay the customer's reply"),
    ("/{number}/plan", CaseWorkflow.propose_plan, SolutionPlan, "Propose a solution plan"),
    ("/{number}/reject", CaseWorkflow.reject, Rejection, "Reject the proposed plan with a reason"),
    ("/{number}/feedback", CaseWorkflow.record_feedback, Feedback, "Record the customer's satisfaction score"),
    ("/{number}/withdraw", CaseWorkflow.withdraw, Withdrawal, "Withdraw the case before execution"),
    ("/{number}/extensions", CaseWorkflow.extend_deadline, DeadlineExtension, "Extend a deadline, with a reason told to the customer"),
    ("/{number}/follow-up/complete", CaseWorkflow.complete_follow_up, FollowUpCompletion, "Record a resolution a person carried out by hand after every route failed"),
    ("/{number}/exchange-choice", CaseWorkflow.choose_exchange, ExchangeChoice, "Relay the customer's choice when the exchange item is out of stock: a similar item or a refund"),
    ("/{number}/first-contact-answer", CaseWorkflow.answer_at_first_contact, FirstContactAnswer, "Answer a simple case at first contact from the knowledge base; the survey follows"),
    ("/{number}/reassign", CaseWorkflow.reassign, Reassignment, "Move the case to another department's queue or to a named handler, with a reason"),
]  # fmt: skip
add_actions(router, SIMPLE_ACTIONS)
