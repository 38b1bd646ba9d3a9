"""Multi-department cases: the head names the lead and the assisting departments; each
assisting department contributes by its own deadline, or the lead goes on without it.

Every action goes through the case workflow like any other (`_act`): access checks,
idempotency and the timeline stay in one place.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Caller
from api.json_body import DecimalJsonRoute
from api.routes.cases import Actions, CaseNumber, Key
from domain.case import Department
from domain.contribution import (
    ContributionSubmission,
    ContributionWaiver,
    DepartmentsNaming,
)
from domain.state import CaseView
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["multi-department cases"], route_class=DecimalJsonRoute)

AssistingDepartment = Annotated[Department, Path(description="The assisting department the contribution is from")]


@router.post(
    "/{number}/departments",
    response_model=CaseView,
    summary="Name the lead department and ask assisting departments for contributions, each by its own deadline",
)
async def name_departments(
    number: CaseNumber,
    naming: DepartmentsNaming,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(number, CaseWorkflow.name_departments, [actor, naming], idempotency_key)


@router.post(
    "/{number}/contributions/{department}",
    response_model=CaseView,
    summary="An assisting department's contribution (late ones are taken and marked late)",
)
async def contribute(
    number: CaseNumber,
    department: AssistingDepartment,
    submission: ContributionSubmission,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(
        number, CaseWorkflow.contribute, [actor, department, submission], idempotency_key
    )


@router.post(
    "/{number}/contributions/{department}/waive",
    response_model=CaseView,
    summary="The lead goes on without an outstanding contribution, with a reason",
)
async def waive_contribution(
    number: CaseNumber,
    department: AssistingDepartment,
    waiver: ContributionWaiver,
    actions: Actions,
    actor: Caller,
    idempotency_key: Key = None,
) -> CaseView:
    return await actions.send(
        number, CaseWorkflow.waive_contribution, [actor, department, waiver], idempotency_key
    )
