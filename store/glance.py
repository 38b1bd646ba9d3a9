"""A case at a glance: where it stands and who has it, as every list of cases shows it
(the stuck cases, the supervisor's and the head's queues). No personal data.

Declared once: the store's rows extend `CaseGlance`, the API's views extend `CaseGlanceView`,
which is made from it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, get_type_hints

from pydantic import BaseModel, create_model

from store.models import CaseRow


@dataclass
class CaseGlance:
    number: str
    stage: str
    priority: str | None
    department: str | None
    assignee: str | None
    sla_state: str
    escalation_level: int
    next_deadline: datetime | None

    @classmethod
    def columns(cls) -> list[Any]:
        """The case record's columns a query selects for the glance (they share its names)."""
        return [getattr(CaseRow, f.name) for f in fields(CaseGlance)]

    @classmethod
    def read(cls, row: Any) -> dict[str, Any]:
        """The glance's fields from a query row, or from any object that has them."""
        return {f.name: getattr(row, f.name) for f in fields(CaseGlance)}


CaseGlanceView: type[BaseModel] = create_model(  # type: ignore[call-overload]  # fields from the dataclass hints
    "CaseGlanceView", **{name: (hint, ...) for name, hint in get_type_hints(CaseGlance).items()}
)
