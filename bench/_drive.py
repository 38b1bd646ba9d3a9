"""Driving cases, the same way for every bench script: through the Temporal client (updates
directly), through the HTTP API, and the bare baseline through the Temporal client.

A closed loop is receipt → triage → accept → plan → approve → (execution by the
workflow) → feedback → closed. The driver learns that execution is done the way
a client of the record would: it polls the case's row in the database (every
`POLL_S`), the same for the product and the bare baseline (whose 8th write marks
it); a feedback refused as "not allowed now" anyway is retried and counted.
Actions ask for brief answers (`brief=True`, the default: the console's form, and an API
caller's with `Prefer: return=minimal`), as the driver reads nothing of the view; `brief=False`
takes the whole view as an integrator's default call does.
The loop ends when the feedback's answer says the case is closed: a satisfied case
then waits a week for the fix check before it archives, which no bench waits for;
the bare baseline's loop ends at its feedback update likewise, and it stays open at
`closed` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from bench._harness import BARE_QUEUE, PRODUCT_QUEUE
from bench.bare import EXECUTED_SEQ, BareWorkflow
from core.answer_form import brief_answers
from domain.calendar import BusinessCalendar
from domain.case import (
    Approval,
    CaseIntake,
    Feedback,
    SolutionPlan,
    TriageDecision,
)
from domain.sla import SlaPolicy
from domain.state import CaseBrief, CaseStart, CaseView
from services.sla_rules import SlaRulebook
from store.db import session_factory
from store.rules import RulesStore
from tests.support.people import AGENT, AGENT_ACTOR, HANDLER, HANDLER_ACTOR, HEAD, HEAD_ACTOR, PLAN, TRIAGE, intake
from workflows.case import CaseWorkflow

POLL_S = 0.02
MINIMAL = {"Prefer": "return=minimal"}  # RFC 7240: the brief answer (api/prefer.py)
STEP_TIMEOUT_S = 120.0

INTAKE_BODY = intake()
INTAKE = CaseIntake.model_validate(INTAKE_BODY)
# P2 plans are approved by the after-sales head (approval by grade).
DECISION = TriageDecision.model_validate(TRIAGE)
SOLUTION = SolutionPlan.model_validate(PLAN)
FEEDBACK_BODY = {"score": 5}

_run = uuid.uuid4().hex[:6].upper()
_numbers = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{_run}-{next(_numbers):07d}"


@dataclass
class CaseResult:
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    refused_feedback: int = 0
    number: str = ""


class Steps:
    def __init__(self) -> None:
        self.result = CaseResult()
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.result.steps[name] = now - self._t
        self._t = now


async def pinned(engine: AsyncEngine) -> tuple[SlaPolicy, BusinessCalendar]:
    """The policy and calendar the API would pin a case to now (the defaults on a fresh database)."""
    return await SlaRulebook(RulesStore(session_factory(engine))).pinned_for(datetime.now(UTC))


async def _wait_row(engine: AsyncEngine, query: str, params: dict[str, Any], done: Any) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        async with engine.connect() as connection:
            value = (await connection.execute(text(query), params)).scalar()
        if done(value):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{query} {params}: still {value!r} after {STEP_TIMEOUT_S:.0f} s")
        await asyncio.sleep(POLL_S)


async def wait_executed(engine: AsyncEngine, number: str) -> None:
    await _wait_row(
        engine, "SELECT stage FROM cases WHERE number = :n", {"n": number}, lambda v: v == "awaiting_feedback"
    )


async def wait_bare_executed(engine: AsyncEngine, wf_id: str) -> None:
    await _wait_row(
        engine, "SELECT max(seq) FROM bench_write WHERE wf = :w", {"w": wf_id}, lambda v: (v or 0) >= EXECUTED_SEQ
    )


def _refused(error: BaseException) -> bool:
    cause = getattr(error, "cause", None)
    return (
        isinstance(error, WorkflowUpdateFailedError)
        and isinstance(cause, ApplicationError)
        and cause.type == "ActionNotAllowed"
    )


# ---- opening only ---------------------------------------------------------------------------


async def open_product(
    client: Client,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    number: str | None = None,
    answer: type[BaseModel] = CaseView,
) -> str:
    """What POST /cases does with Temporal, without HTTP and the case-number counter: update-with-start
    of `CaseWorkflow` and its `receipt` update (returns once the case is recorded)."""
    number = number or new_id("LC")
    start = CaseStart(
        number=number,
        intake=INTAKE,
        received_at=datetime.now(UTC),
        received_by=AGENT_ACTOR,
        policy=policy,
        calendar=calendar,
    )
    operation = WithStartWorkflowOperation(
        CaseWorkflow.run,
        start,
        id=number,
        task_queue=PRODUCT_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    await client.execute_update_with_start_workflow("receipt", start_workflow_operation=operation, result_type=answer)
    return number


async def open_api(http: httpx.AsyncClient, brief: bool = False) -> str:
    response = await http.post("/cases", json=INTAKE_BODY, headers=AGENT | MINIMAL if brief else AGENT)
    if response.status_code != 201:
        raise RuntimeError(f"POST /cases: {response.status_code} {response.text[:300]}")
    return response.json()["number"]


async def open_api_async(http: httpx.AsyncClient) -> str:
    """`POST /cases` with `Prefer: respond-async`: 202 once Temporal has the case (the record follows)."""
    response = await http.post("/cases", json=INTAKE_BODY, headers=AGENT | {"Prefer": "respond-async"})
    if response.status_code != 202:
        raise RuntimeError(f"POST /cases (respond-async): {response.status_code} {response.text[:300]}")
    return response.json()["number"]


async def http_floor(http: httpx.AsyncClient) -> None:
    """`GET /healthz`: a request through the API's HTTP stack that does no work of its own."""
    response = await http.get("/healthz")
    if response.status_code != 200:
        raise RuntimeError(f"GET /healthz: {response.status_code} {response.text[:300]}")


async def open_bare(client: Client, wf_id: str | None = None, timer_s: float = 0) -> str:
    """The bare equivalent of POST /cases: update-with-start, `receipt` returns after two writes."""
    wf_id = wf_id or new_id("BL")
    operation = WithStartWorkflowOperation(
        BareWorkflow.run,
        args=[wf_id, timer_s] if timer_s else [wf_id],
        id=wf_id,
        task_queue=BARE_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    await client.execute_update_with_start_workflow(BareWorkflow.receipt, start_workflow_operation=operation)
    return wf_id


async def start_bare(client: Client, wf_id: str | None = None) -> str:
    """Raw `client.start_workflow` of the bare workflow: returns once the server has accepted the start."""
    wf_id = wf_id or new_id("BS")
    await client.start_workflow(BareWorkflow.run, wf_id, id=wf_id, task_queue=BARE_QUEUE)
    return wf_id


# ---- full closed loops ----------------------------------------------------------------------


async def lifecycle_client(
    client: Client, engine: AsyncEngine, policy: SlaPolicy, calendar: BusinessCalendar, *, brief: bool = True
) -> CaseResult:
    with brief_answers() if brief else contextlib.nullcontext():
        return await _lifecycle_client(client, engine, policy, calendar, CaseBrief if brief else CaseView)


async def act(handle: WorkflowHandle[Any, Any], update: str, *args: Any, answer: type[BaseModel]) -> BaseModel:
    """An action by its update's name: the SDK types a method's answer as declared (the view)."""
    return await handle.execute_update(update, args=list(args), result_type=answer)


async def _lifecycle_client(
    client: Client, engine: AsyncEngine, policy: SlaPolicy, calendar: BusinessCalendar, answer: type[BaseModel]
) -> CaseResult:
    steps = Steps()
    number = await open_product(client, policy, calendar, answer=answer)
    steps.result.number = number
    steps.done("open")
    handle = client.get_workflow_handle_for(CaseWorkflow.run, number)
    await act(handle, "triage", AGENT_ACTOR, DECISION, answer=answer)
    steps.done("triage")
    await act(handle, "accept", HANDLER_ACTOR, answer=answer)
    steps.done("accept")
    await act(handle, "propose_plan", HANDLER_ACTOR, SOLUTION, answer=answer)
    steps.done("plan")
    await act(handle, "approve", HEAD_ACTOR, Approval(), answer=answer)
    steps.done("approve")
    await wait_executed(engine, number)
    steps.done("execution")
    while True:
        try:
            closed = await handle.execute_update(
                # By name: the SDK types a method's answer as its declared one (the view).
                "record_feedback",
                args=[AGENT_ACTOR, Feedback(**FEEDBACK_BODY)],
                result_type=CaseBrief,
            )
            break
        except WorkflowUpdateFailedError as error:
            if not _refused(error) or steps.result.refused_feedback > 100:
                raise
            steps.result.refused_feedback += 1
            await asyncio.sleep(POLL_S)
    if closed.stage != "closed":  # type: ignore[attr-defined]  # CaseBrief or CaseView
        raise RuntimeError(f"{number} ended {closed.stage}")
    steps.done("feedback")
    return steps.result


async def _post(
    http: httpx.AsyncClient, path: str, body: Any, who: dict[str, str], brief: bool = False
) -> httpx.Response:  # fmt: skip
    response = await http.post(path, json=body, headers=who | MINIMAL if brief else who)
    if response.status_code not in (200, 201, 409):
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
    return response


async def lifecycle_api(
    http: httpx.AsyncClient, client: Client, engine: AsyncEngine, *, brief: bool = True
) -> CaseResult:  # fmt: skip
    steps = Steps()
    number = await open_api(http, brief)
    steps.result.number = number
    steps.done("open")
    for name, path, body, who in (
        ("triage", "triage", TRIAGE, AGENT),
        ("accept", "accept", None, HANDLER),
        ("plan", "plan", PLAN, HANDLER),
        ("approve", "approve", {}, HEAD),
    ):
        response = await _post(http, f"/cases/{number}/{path}", body, who, brief)
        if response.status_code != 200:
            raise RuntimeError(f"POST /cases/{number}/{path}: {response.status_code} {response.text[:300]}")
        steps.done(name)
    await wait_executed(engine, number)
    steps.done("execution")
    while True:
        response = await _post(http, f"/cases/{number}/feedback", FEEDBACK_BODY, AGENT, brief)
        if response.status_code == 200:
            if (stage := response.json()["stage"]) != "closed":
                raise RuntimeError(f"{number} ended {stage}")
            break
        if steps.result.refused_feedback > 100:
            raise RuntimeError(f"feedback refused {steps.result.refused_feedback} times: {response.text[:300]}")
        steps.result.refused_feedback += 1
        await asyncio.sleep(POLL_S)
    steps.done("feedback")
    return steps.result


async def lifecycle_bare(client: Client, engine: AsyncEngine) -> CaseResult:
    steps = Steps()
    wf_id = await open_bare(client)
    steps.result.number = wf_id
    steps.done("open")
    handle = client.get_workflow_handle_for(BareWorkflow.run, wf_id)
    for name, update in (
        ("triage", BareWorkflow.triage),
        ("accept", BareWorkflow.accept),
        ("plan", BareWorkflow.plan),
        ("approve", BareWorkflow.approve),
    ):
        await handle.execute_update(update, "someone")
        steps.done(name)
    await wait_bare_executed(engine, wf_id)
    steps.done("execution")
    while True:
        try:
            await handle.execute_update(BareWorkflow.feedback, "agent")
            break
        except WorkflowUpdateFailedError as error:
            if not _refused(error) or steps.result.refused_feedback > 100:
                raise
            steps.result.refused_feedback += 1
            await asyncio.sleep(POLL_S)
    steps.done("feedback")
    return steps.result
