"""/cases/{number}/opt-outs: staff record that the customer wants no more messages on a channel.

The opt-out is the customer's, not the case's: it is kept under a hash of the contact (never the
contact itself) and holds for every case of that customer (delivery/customer.py honours it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import Caller, CaseNumber, Store
from api.problems import Problem, case_not_found
from domain.case import Role
from domain.text import OptionalText
from services.access import sees
from services.cases import assisting
from services.messages import NoSuchContact, opt_out

router = APIRouter(prefix="/cases", tags=["messages"])


class OptOut(BaseModel):
    channel: Literal["email", "sms"]
    reason: OptionalText = Field(default=None, max_length=200)


class OptOutRecorded(BaseModel):
    channel: str
    recorded: bool  # false: it was recorded before (recording twice acts once)


@router.post(
    "/{number}/opt-outs",
    status_code=201,
    response_model=OptOutRecorded,
    summary="Record the customer's opt-out of a channel (e-mail or SMS), for all their cases",
)
async def record_opt_out(
    number: CaseNumber, body: OptOut, store: Store, actor: Caller
) -> OptOutRecorded | JSONResponse:
    row = await store.get_case(number)
    helping = await assisting(store, number, None) if actor.role is Role.HANDLER else []
    if row is None or not sees(actor, row.department, helping):
        raise case_not_found(number)
    try:
        recorded = await opt_out(store.sessions, number, body.channel, actor.id, body.reason, datetime.now(UTC))
    except NoSuchContact:
        raise Problem(
            422, "No such contact", f"case {number} has no contact for {body.channel}", field="channel"
        ) from None
    if recorded is None:
        raise case_not_found(number)
    answer = OptOutRecorded(channel=body.channel, recorded=recorded)
    return answer if recorded else JSONResponse(answer.model_dump(), status_code=200)
