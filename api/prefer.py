"""The `Prefer` request header (RFC 7240): what a caller would rather the API did.

Two preferences are honoured, each acknowledged with `Preference-Applied`:
- `respond-async` on `POST /cases`: 202 once Temporal has the case, not once it is recorded;
- `return=minimal` on `POST /cases` and a case's actions: the brief answer (`CaseBrief`: number,
  stage, the last timeline event's sequence number) instead of the whole view, for a caller that
  reads the case elsewhere. The case then keeps only the brief answer in its history (workflows/answer_form.py).
Any other preference is ignored, as the RFC asks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse

from domain.state import CaseBrief, CaseView

RESPOND_ASYNC = "respond-async"
RETURN_MINIMAL = "return=minimal"

PreferHeader = Annotated[
    str | None,
    Header(
        alias="Prefer",
        max_length=1024,
        description=(
            "`respond-async` (POST /cases): answer 202 once Temporal has the case, not once recorded; "
            "`return=minimal` (POST /cases, a case's actions): answer with the case's number, stage and "
            "last timeline sequence number, not its whole view"
        ),
    ),
]


def preferences(prefer: str | None) -> set[str]:
    """The preferences named, lower-cased, each as `name` or `name=value` (parameters after `;` and
    quotes around a value dropped): `respond-async, return="minimal"; x=1` → {respond-async, return=minimal}."""
    found: set[str] = set()
    for part in (prefer or "").split(","):
        name, _, value = part.split(";")[0].partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if name:
            found.add(f"{name}={value}" if value else name)
    return found


def answered(answer: CaseView | CaseBrief, status_code: int = 200, **headers: str) -> CaseView | JSONResponse:
    """The view as it is (the route's `response_model` validates it), or the brief answer asked
    for with `return=minimal`, acknowledged: a plain response, since the route declares the view."""
    if isinstance(answer, CaseBrief):
        headers = {**headers, "Preference-Applied": RETURN_MINIMAL}
        return JSONResponse(answer.model_dump(mode="json"), status_code=status_code, headers=headers)
    return answer
