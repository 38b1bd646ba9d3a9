"""/cases/{number}/...: after the resolution, what customer service does (DOMAIN.md steps 6 and 7):
tell the customer the result, call an unhappy customer back, record the answer to the fix check."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Caller
from api.json_body import DecimalJsonRoute
from api.routes.cases import Actions, CaseNumber, Key
from domain.follow_up import CallBackCompletion, FixCheckAnswer, ResultTold
from domain.state import CaseView
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["follow-up"], route_class=DecimalJsonRoute)


@router.post(
    "/{number}/result-told",
    response_model=CaseView,
    summary="Record that the customer was told the result, what was done and what follow-up to expect",
)
async def tell_result(
    number: CaseNumber,
    told: ResultTold,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.tell_result, [actor, told], idempotency_key)


@router.post(
    "/{number}/call-back/complete",
    response_model=CaseView,
    summary="Record the call-back to a customer who gave a low score or whose fix did not hold",
)
async def complete_call_back(
    number: CaseNumber,
    completion: CallBackCompletion,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(
        number, CaseWorkflow.complete_call_back, [actor, completion], idempotency_key
    )


@router.post(
    "/{number}/fix-check",
    response_model=CaseView,
    summary="Record the customer's answer to the fix check: held archives the case, not held reopens it",
)
async def answer_fix_check(
    number: CaseNumber,
    answer: FixCheckAnswer,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.answer_fix_check, [actor, answer], idempotency_key)
