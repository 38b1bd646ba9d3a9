"""Multi-department cases: the head names the lead and the assisting departments; each
assisting department contributes by its own deadline, or the lead goes on without it.

Every action goes through the case workflow like any other (`api.deps.Action`): access checks,
idempotency and the timeline stay in one place.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import add_actions
from api.json_body import DecimalJsonRoute
from domain.case import Department
from domain.contribution import (
    ContributionSubmission,
    ContributionWaiver,
    DepartmentsNaming,
)
from workflows.case import CaseWorkflow

router = APIRouter(prefix="/cases", tags=["multi-department cases"], route_class=DecimalJsonRoute)

AssistingDepartment = Annotated[Department, Path(description="The assisting department the contribution is from")]


# The actions that send one body to the case and answer its view: (path, update, body, summary).
SIMPLE_ACTIONS = [
    ("/{number}/departments", CaseWorkflow.name_departments, DepartmentsNaming, "Name the lead department and ask assisting departments for contributions, each by its own deadline"),
]  # fmt: skip
# An assisting department's actions name the department in the path, and the case gets it too.
DEPARTMENT_ACTIONS = [
    ("/{number}/contributions/{department}", CaseWorkflow.contribute, ContributionSubmission, "An assisting department's contribution (late ones are taken and marked late)"),
    ("/{number}/contributions/{department}/waive", CaseWorkflow.waive_contribution, ContributionWaiver, "The lead goes on without an outstanding contribution, with a reason"),
]  # fmt: skip
add_actions(router, SIMPLE_ACTIONS)
add_actions(router, DEPARTMENT_ACTIONS, department=AssistingDepartment)
