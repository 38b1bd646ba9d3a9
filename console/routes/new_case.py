"""The new case form for agents: the intake as the API's CaseIntake model takes it, the triage
suggestion shown as they type (services/triage_preview.py: the rules in force, nothing opened),
and one case however often the form is sent (its idempotency key, services/intake.py)."""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console import forms
from console.gate import NEW_CASE, require
from console.render import page
from console.session import FormSession, Session, SignedIn
from console.words import N_
from domain.case import CaseIntake
from services.intake import IdempotencyKeyInFlight, IdempotencyKeyReused, open_case_once
from services.triage_preview import preview_triage

router = APIRouter(prefix="/console", include_in_schema=False)
KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
# An instant is not typed into a form as ISO 8601: when it happened goes in the description.
LEFT_OUT = {"occurred_at"}
SECTIONS = (
    (N_("Contact"), ("channel",)),
    (N_("Customer"), ("customer.",)),
    (N_("Order"), ("order.",)),
    (N_("Product"), ("product.",)),
    (N_("What happened"), ("description", "demands", "flags")),
)
# Why the form came back without a case (besides a field's own refusal).
FORM_ERRORS = {N_("key_reused"), N_("still_opening")}


def intake_fields() -> list[forms.FormField]:
    return [f for f in forms.fields_of(CaseIntake) if f.name not in LEFT_OUT]


def _sections() -> list[tuple[str, list[forms.FormField]]]:
    every = intake_fields()
    return [(title, [f for f in every if f.name.startswith(prefixes)]) for title, prefixes in SECTIONS]


def _form_page(
    request: Request, session: Session, *, key: str | None = None, values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    return page(
        request, "new_case.html", session, status=status, sections=_sections(), values=values or {},
        errors=errors or {}, key=key or str(uuid.uuid4()),
    )  # fmt: skip


@router.get("/new-case", name="console_new_case")
async def new_case_page(request: Request, session: SignedIn) -> Response:
    require(session, NEW_CASE)
    return _form_page(request, session)


@router.post("/new-case/preview", name="console_new_case_preview")
async def preview(request: Request, session: FormSession) -> Response:
    """The suggestion for the form as it stands: the whole intake once it is valid, else the
    description alone, with the fields still missing named."""
    require(session, NEW_CASE)
    state = request.app.state
    intake, errors, sent = forms.read(CaseIntake, await request.form())
    description = str(sent.get("description") or "").strip()
    suggestion = None
    if intake is not None:
        suggestion = await preview_triage(state.store, state.triage_rules, cast(CaseIntake, intake))
    elif description and "description" not in errors:
        suggestion = await preview_triage(state.store, state.triage_rules, description)
    missing = sorted(name for name in errors if name != "description") if intake is None else []
    return page(request, "_suggestion.html", session, suggestion=suggestion, missing=missing, partial=intake is None)


@router.post("/new-case", name="console_open_case")
async def open_case(request: Request, session: FormSession) -> Response:
    require(session, NEW_CASE)
    state = request.app.state
    form = await request.form()
    raw_key = form.get("idempotency_key")
    key = raw_key if isinstance(raw_key, str) and KEY.match(raw_key) else str(uuid.uuid4())
    intake, errors, sent = forms.read(CaseIntake, form)
    if intake is None:
        return _form_page(request, session, key=key, values=sent, errors=errors, status=422)
    try:
        opened = cast(CaseIntake, intake)
        number = await open_case_once(
            state.store, state.temporal, state.settings, state.sla_rules, session.actor, opened, key
        )
    except IdempotencyKeyReused:
        # Changed after a failed try: a new key stands for the new form.
        return _form_page(request, session, values=sent, errors={"form": "key_reused"}, status=409)
    except IdempotencyKeyInFlight:
        return _form_page(request, session, key=key, values=sent, errors={"form": "still_opening"}, status=409)
    return RedirectResponse(f"/console/cases/{number}", status_code=303)
