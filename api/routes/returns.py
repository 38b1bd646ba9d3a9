"""/cases/{number}/return-steps: logistics and the warehouse report the steps of a return or repair."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Action, ActionAnswer
from api.json_body import DecimalJsonRoute
from api.problems import Problem
from domain.returns import ReturnStep, ReturnStepReport, ReturnStepSignal
from domain.state import CaseView
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["returns"], route_class=DecimalJsonRoute)


@router.post(
    "/{number}/return-steps/{step}",
    response_model=CaseView,
    summary="Report the next step of a return or repair (label, pickup, receipt, quality check, restock, repair, ship back)",
)
async def record_return_step(step: ReturnStep, action: Action, report: ReturnStepReport | None = None) -> ActionAnswer:
    report = report or ReturnStepReport()
    missing = report.problems(step)
    if missing:
        errors = [{"field": field, "message": why} for field, why in missing]
        raise Problem(422, "Invalid request", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    signal = ReturnStepSignal(step=step, **report.model_dump())
    return await action.send(CaseWorkflow.record_return_step, signal)
