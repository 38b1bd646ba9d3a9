"""/cases/{number}/...: after the resolution, what customer service does (DOMAIN.md steps 6 and 7):
tell the customer the result, call an unhappy customer back, record the answer to the fix check."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import add_actions
from api.json_body import DecimalJsonRoute
from domain.follow_up import CallBackCompletion, FixCheckAnswer, ResultTold
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["follow-up"], route_class=DecimalJsonRoute)


# The actions that send one body to the case and answer its view: (path, update, body, summary).
SIMPLE_ACTIONS = [
    ("/{number}/result-told", CaseWorkflow.tell_result, ResultTold, "Record that the customer was told the result, what was done and what follow-up to expect"),
    ("/{number}/fix-check", CaseWorkflow.answer_fix_check, FixCheckAnswer, "Record the customer's answer to the fix check: held archives the case, not held reopens it"),
    ("/{number}/call-back/complete", CaseWorkflow.complete_call_back, CallBackCompletion, "Record the call-back to a customer who gave a low score or whose fix did not hold"),
]  # fmt: skip
add_actions(router, SIMPLE_ACTIONS)
