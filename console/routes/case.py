"""The case page: header, customer and order (masked per role), SLA clocks, timeline, and the
forms for exactly the actions this role may take in this stage. A form posts to its action; a
refusal comes back on the same page next to the field it names."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from console import forms, marketplace
from console.actions import ACTIONS, CaseAction, choices, offered
from console.app import CaseHidden
from console.render import page
from console.session import FormSession, Session, SignedIn
from domain.case import Department, Role
from domain.privacy import mask_email, mask_name, mask_phone
from domain.returns import ReturnStep, ReturnStepReport, ReturnStepSignal
from domain.state import CaseState
from services.access import sees
from services.case_actions import ActionRefused, CaseGone, send_action
from services.cases import assisting, live_sla, live_state
from services.stuck import temporal_ui_link

router = APIRouter(prefix="/console", include_in_schema=False)
Number = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
# Handlers work on the product and the plan; customer service and management speak to the customer.
UNMASKED = frozenset({Role.AGENT, Role.SUPERVISOR, Role.HEAD, Role.ADMIN})


async def _visible(request: Request, session: Session, number: str) -> tuple[Any, CaseState | None]:
    state = request.app.state
    row = await state.store.get_case(number)
    live = await live_state(state.temporal.get_workflow_handle(number), state.settings)
    if row is None and live is None:
        raise CaseHidden(number)
    department = live.department if live is not None else row.department
    helping = await assisting(state.store, number, live) if session.actor.role is Role.HANDLER else []
    if not sees(session.actor, department, helping):
        raise CaseHidden(number)  # as the API: another department's case does not exist for a handler
    return row, live


def _customer(row: Any, live: CaseState | None, role: Role) -> dict[str, Any]:
    name: str | None
    if live is not None:
        c, order, product = live.intake.customer, live.intake.order, live.intake.product
        name, phone, email, tier = c.name, c.phone, c.email, c.tier.value
        order_number, paid, currency, sku = order.number, order.paid_amount, order.currency, product.sku
        evidence = [(e.kind, e.uri) for e in live.intake.evidence]
    else:
        name, phone, email, tier = row.customer_name, row.customer_phone, row.customer_email, row.customer_tier
        order_number, paid, currency, sku, evidence = row.order_number, None, "CNY", row.sku, []
    if role not in UNMASKED:
        name, phone, email = mask_name(name), mask_phone(phone), mask_email(email)
    return {"name": name, "phone": phone, "email": email, "tier": tier, "order_number": order_number,
            "paid": paid, "currency": currency, "sku": sku, "evidence": evidence}  # fmt: skip


def _prefill(slug: str, live: CaseState | None) -> dict[str, Any]:
    if slug in ("triage", "first-contact") and live is not None and live.suggestion is not None:
        s = live.suggestion
        values = {"categories": [c.value for c in s.categories], "priority": s.priority.value if s.priority else ""}
        if slug == "triage":
            values["department"] = s.department.value if s.department else ""
        return values
    if slug == "plan" and live is not None and live.assignee:
        return {"owner": live.assignee}
    return {}


def _fields(action: CaseAction, live: CaseState | None) -> list[forms.FormField]:
    chosen = [forms.FormField(action.choice, "select", True, choices(action, live))] if action.choice and live else []
    if action.slug == "departments":
        return forms.departments_fields()
    if action.slug == "platform-decision":
        return marketplace.fields(live)
    return chosen + (forms.fields_of(action.model) if action.model else [])


async def _case_page(
    request: Request, session: Session, number: str, *, failed: str | None = None, errors: dict[str, str] | None = None,
    sent: dict[str, Any] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    state = request.app.state
    row, live = await _visible(request, session, number)
    sla = await live_sla(state.temporal.get_workflow_handle(number), state.settings) if live is not None else None
    actions = offered(session.actor, number, live)
    action_forms = [
        {
            "action": action,
            "fields": _fields(action, live),
            "values": sent if (failed == action.slug and sent) else _prefill(action.slug, live),
            "errors": errors if failed == action.slug else {},
            "key": str(uuid.uuid4()),
        }
        for action in actions
    ]
    cap = live.rules.compensation_cap(live.intake.order.paid_amount) if live is not None else None
    return page(
        request, "case.html", session, status=status, number=number, row=row, live=live, sla=sla,
        customer=_customer(row, live, session.actor.role), timeline=await state.store.timeline(number),
        action_forms=action_forms, cap=cap, temporal_link=temporal_ui_link(state.settings, number),
    )  # fmt: skip


@router.get("/cases/{number}", name="console_case")
async def case_page(request: Request, number: Number, session: SignedIn) -> Response:
    return await _case_page(request, session, number)


@router.post("/cases/{number}/actions/{slug}")
async def act(request: Request, number: Number, slug: str, session: FormSession) -> Response:
    state = request.app.state
    await state.rate_limit.check(session.sub)  # the API's limit per person, whichever door they use
    _, live = await _visible(request, session, number)
    action = ACTIONS.get(slug)
    if action is None or action not in offered(session.actor, number, live):
        return await _case_page(request, session, number, failed=slug, status=409,
                                errors={"form": "not_offered"})  # fmt: skip
    form = await request.form()
    raw_key = form.get("idempotency_key")
    key = raw_key if isinstance(raw_key, str) and KEY.match(raw_key) else None
    payload: list[Any] = []
    if action.model is not None:
        chosen = form.get(action.choice) if action.choice else None
        reader = forms.read_departments if slug == "departments" else forms.read
        body, errors, sent = reader(action.model, form)
        if action.choice and live is not None and chosen not in choices(action, live):
            errors = {action.choice: forms.MESSAGES["missing"], **errors}
        if slug == "platform-decision":
            errors = marketplace.problems(form, marketplace.decision_kinds(live), errors)
        if body is not None and slug == "return-step":
            errors.update(dict(ReturnStepReport.model_validate(body).problems(ReturnStep(str(chosen)))))
        if (
            body is not None
            and slug == "duplicate"
            and await state.store.get_case(getattr(body, "original", "")) is None
        ):
            errors["original"] = "unknown_original"
        if body is None or errors:
            if action.choice:
                sent[action.choice] = chosen
            return await _case_page(request, session, number, failed=slug, errors=errors, sent=sent, status=422)
        payload = [body]
        if slug == "contribute":
            payload = [session.actor.department, body]
        elif slug == "waive":
            payload = [Department(str(chosen)), body]
        elif slug == "return-step":
            payload = [ReturnStepSignal(step=ReturnStep(str(chosen)), **body.model_dump())]
    try:
        await send_action(state.temporal, state.settings, number, session.actor, action.update, payload, key)
    except ActionRefused as refused:
        sent = {k: (form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k)) for k in form}
        return await _case_page(request, session, number, failed=slug, errors={refused.field or "form": refused.message},
                                sent=sent, status=409)  # fmt: skip
    except CaseGone:
        return await _case_page(request, session, number, failed=slug, errors={"form": "case_finished"}, status=409)
    return RedirectResponse(f"/console/cases/{number}", status_code=303)
