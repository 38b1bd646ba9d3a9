"""The event data that SQL reads back (store/reports.py, store/queues.py), as models.

The workflow writes these fields and the reports and queues read them as JSON paths; both
sides take the names from here, so a renamed field breaks where it is read, not silently in
a report. Events carry more than these fields (each kind its own extras); only what is read
back is modelled. The data of `triaged` and `feedback_recorded` events is the decision and the
feedback themselves (domain/case.py: TriageDecision, Feedback).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from domain.case import Feedback, Role, TriageDecision


class ClockMissed(BaseModel):
    """Common data of sla_warning, sla_breached and sla_escalated: who a miss counts against."""

    clock: str
    due_at: str  # isoformat, as written since the first recorded cases
    responsible_role: str
    responsible_id: str | None
    department: str | None = None  # absent while the case has no department

    def data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class PlanApprover(BaseModel):
    """What plan_proposed adds to the plan's own fields: whose approval it waits for."""

    approver: Role


class FieldNames:
    """A model's field names as attributes: `CLOCK_MISSED.department` is "department", and a
    name the model does not have fails at once instead of reading NULL from every row."""

    def __init__(self, model: type[BaseModel]) -> None:
        self._model = model

    def __getattr__(self, name: str) -> str:
        if name in self._model.model_fields:
            return name
        raise AttributeError(f"{self._model.__name__} has no field {name!r}")


CLOCK_MISSED = FieldNames(ClockMissed)
PLAN_APPROVER = FieldNames(PlanApprover)
TRIAGED = FieldNames(TriageDecision)
FEEDBACK = FieldNames(Feedback)
