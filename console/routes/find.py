"""Find a case: the criteria of services/case_search.py in a form, results a page at a time, and
the whole list as CSV. Posted, never in the URL: the customer's phone stays out of addresses,
browser history and access logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console.gate import FIND, require
from console.render import page
from console.session import FormSession, Session, SignedIn
from console.words import N_
from domain.case import Category, Department, Priority, Stage
from domain.privacy import mask_phone
from domain.sla import SlaState
from services.case_search import CaseSearch, Found, search_all, search_cases
from services.csv_export import cases_csv

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 20
# A CSV export stops here: past it, narrow the criteria (the file says so in its name).
CSV_LIMIT = 5000
TEXT = ("number", "order_number", "phone", "sku", "assignee")
DATES = ("received_from", "received_to")
CHOICES: dict[str, list[str]] = {
    "stage": [s.value for s in Stage],
    "sla_state": [s.value for s in SlaState],
    "priority": [p.value for p in Priority],
    "department": [d.value for d in Department],
    "category": [c.value for c in Category],
}
LABELS = {N_("order_number"), N_("received_from"), N_("received_to"), N_("sla_state"), N_("number")}


def _criteria(form: FormData) -> tuple[CaseSearch | None, dict[str, str], dict[str, str]]:
    sent = {name: str(form.get(name) or "").strip() for name in (*TEXT, *DATES, *CHOICES)}
    data: dict[str, Any] = {name: value for name, value in sent.items() if value}
    offset = str(form.get("offset") or "0")
    data["offset"] = offset if offset.isdigit() and len(offset) <= 10 else "0"
    data["limit"] = PAGE_SIZE
    try:
        return CaseSearch.model_validate(data), {}, sent
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            errors.setdefault(".".join(str(p) for p in problem["loc"]) or "form", problem["msg"])
        return None, errors, sent


def _page(
    request: Request, session: Session, *, sent: dict[str, str] | None = None, errors: dict[str, str] | None = None,
    found: Found | None = None, status: int = 200,
) -> Response:  # fmt: skip
    return page(
        request, "find.html", session, status=status, sent=sent or {}, errors=errors or {}, found=found,
        choices=CHOICES, text_fields=TEXT, masked_phone=mask_phone,
    )  # fmt: skip


@router.get("/find", name="console_find")
async def find_page(request: Request, session: SignedIn) -> Response:
    require(session, FIND)
    return _page(request, session)


@router.post("/find", name="console_find_results")
async def find(request: Request, session: FormSession) -> Response:
    require(session, FIND)
    criteria, errors, sent = _criteria(await request.form())
    if criteria is None:
        return _page(request, session, sent=sent, errors=errors, status=422)
    state = request.app.state
    found = await search_cases(state.store, session.actor, criteria, state.settings.business_timezone)
    return _page(request, session, sent=sent, found=found)


@router.post("/find.csv", name="console_find_csv")
async def find_csv(request: Request, session: FormSession) -> Response:
    """Every case the criteria find (up to CSV_LIMIT), not only the page shown."""
    require(session, FIND)
    criteria, errors, sent = _criteria(await request.form())
    if criteria is None:
        return _page(request, session, sent=sent, errors=errors, status=422)
    state = request.app.state
    found = await search_all(state.store, session.actor, criteria, state.settings.business_timezone, CSV_LIMIT)
    body = cases_csv(found.rows, found.categories, state.settings.business_timezone)
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"', "Cache-Control": "no-store"},
    )
