"""A marketplace case's decision on its platform after-sale (channels/, README "Marketplaces"):
whether the merchant has one to make now, which decisions fit the platform's step, and the
form's own refusals (named by field, as every other form's).

The case's live state keeps the after-sale's last applied step, its deadline (set only while the
platform waits for the merchant) and the decisions sent; the console reads what is due from
those, with no platform's status codes (they stay in channels/)."""

from __future__ import annotations

from typing import Any

from console import forms
from domain.marketplace import (
    FINAL_STEPS,
    AfterSaleKind,
    DecisionKind,
    PlatformDecisionRequest,
    PlatformLink,
    PlatformStep,
    SentDecision,
)
from domain.state import CaseState

# Steps after which the platform waits for the merchant whatever the deadline says (a message
# may carry no deadline); None: the case opened from a message whose step is not applied yet.
MERCHANT_STEPS = frozenset({None, PlatformStep.REQUESTED, PlatformStep.MODIFIED, PlatformStep.BUYER_RETURNED})
# The buyer asked for money only: no goods come back, so there is no return to authorise.
REFUND_ONLY = frozenset(
    {AfterSaleKind.REFUND_BEFORE_SHIPPING, AfterSaleKind.REFUND_AFTER_SHIPPING, AfterSaleKind.PRICE_PROTECTION}
)


def awaiting_confirmation(link: PlatformLink) -> SentDecision | None:
    """A decision sent since the platform last spoke and not confirmed yet: the platform's move
    (its next message confirms it or says otherwise), not a second call of ours."""
    for sent in reversed(link.decisions):
        if sent.confirmed_at is None and (link.occurred_at is None or sent.sent_at >= link.occurred_at):
            return sent
    return None


def decision_kinds(live: CaseState | None) -> list[str]:
    return kinds_for(live.platform if live is not None else None)


def kinds_for(link: PlatformLink | None) -> list[str]:
    """The decisions the merchant may send now (README's status table: on the application,
    approve the refund, authorise the return or refuse; once the goods are back, confirm receipt
    or refuse); none when the case is no marketplace after-sale or nothing is the merchant's."""
    if link is None or link.step in FINAL_STEPS:
        return []
    # A decision the platform refused is a person's task: it may be sent again, or another.
    if link.task is None:
        if awaiting_confirmation(link) is not None:
            return []
        if link.step not in MERCHANT_STEPS and link.deadline is None:
            return []  # the buyer's or the platform's move (return under way, arbitration, ...)
    if link.step is PlatformStep.BUYER_RETURNED:
        kinds = [DecisionKind.CONFIRM_RECEIPT, DecisionKind.REFUSE]
    elif link.step in (None, PlatformStep.REQUESTED, PlatformStep.MODIFIED):
        kinds = [DecisionKind.APPROVE_REFUND, DecisionKind.AUTHORISE_RETURN, DecisionKind.REFUSE]
        if link.kind in REFUND_ONLY:
            kinds.remove(DecisionKind.AUTHORISE_RETURN)
    else:  # a moved deadline or a refused decision: the step alone does not narrow it
        kinds = list(DecisionKind)
    return [k.value for k in kinds]


def fields(live: CaseState | None) -> list[forms.FormField]:
    """The API body's fields, the decision narrowed to those that fit the platform's step."""
    found = forms.fields_of(PlatformDecisionRequest)
    for spec in found:
        if spec.name == "kind":
            spec.choices = decision_kinds(live)
    return found


def problems(form: Any, kinds: list[str], errors: dict[str, str]) -> dict[str, str]:
    """The form's refusals by field: the model refuses a refusal without its reason for the whole
    body, and a decision not among `kinds` (those that fit the step) was not among the choices shown."""
    found = dict(errors)
    kind = str(form.get("kind") or "").strip()
    reason = str(form.get("reason") or "").strip()
    if kind == DecisionKind.REFUSE.value and not reason:
        if found.get("form") == forms.MESSAGES["value_error"]:
            del found["form"]
        found["reason"] = forms.MESSAGES["missing"]
    if kind and "kind" not in found and kind not in kinds:
        found["kind"] = forms.MESSAGES["enum"]
    return found
