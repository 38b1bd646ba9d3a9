"""Which platform decisions the case page offers, from the after-sale's link alone: what is the
merchant's move (README's Douyin status table), what waits for the platform's confirmation, and
what a platform refusal leaves to a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import FormData

from console.forms import MESSAGES
from console.marketplace import kinds_for, problems
from domain.marketplace import (
    AfterSaleKind,
    DecisionKind,
    Platform,
    PlatformLink,
    PlatformStep,
    PlatformTask,
    SentDecision,
)

APPLIED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DUE = APPLIED + timedelta(hours=24)


def link(step: PlatformStep | None, **fields: object) -> PlatformLink:
    values: dict[str, object] = {"occurred_at": APPLIED, "kind": AfterSaleKind.RETURN_AND_REFUND}
    return PlatformLink(platform=Platform.DOUYIN, after_sale_id="7000000001", step=step, **(values | fields))


def sent(kind: DecisionKind, after: timedelta, confirmed: bool = False) -> SentDecision:
    at = APPLIED + after
    return SentDecision(kind=kind, key=f"AS-1:{kind.value}:3", sent_at=at, confirmed_at=at if confirmed else None)


def test_no_decision_on_a_case_that_is_no_marketplace_after_sale() -> None:
    assert kinds_for(None) == []


@pytest.mark.parametrize(
    ("step", "kind", "expected"),
    [
        (PlatformStep.REQUESTED, AfterSaleKind.RETURN_AND_REFUND, ["approve_refund", "authorise_return", "refuse"]),
        (PlatformStep.MODIFIED, AfterSaleKind.REFUND_AFTER_SHIPPING, ["approve_refund", "refuse"]),
        (PlatformStep.BUYER_RETURNED, AfterSaleKind.RETURN_AND_REFUND, ["confirm_receipt", "refuse"]),
    ],
)
def test_the_merchants_move_offers_what_fits_the_step(
    step: PlatformStep, kind: AfterSaleKind, expected: list[str]
) -> None:
    assert kinds_for(link(step, kind=kind)) == expected


@pytest.mark.parametrize(
    "step", [PlatformStep.RETURN_AGREED, PlatformStep.REFUND_REFUSED, PlatformStep.ARBITRATION, PlatformStep.REFUNDED]
)
def test_nothing_while_the_buyer_or_the_platform_moves_or_after_the_end(step: PlatformStep) -> None:
    assert kinds_for(link(step)) == []


def test_a_moved_deadline_keeps_the_decision_open() -> None:
    # ExpirationChange is the last step applied: the deadline says it is still the merchant's move.
    assert kinds_for(link(PlatformStep.DEADLINE_CHANGED, deadline=DUE)) == [k.value for k in DecisionKind]
    assert kinds_for(link(PlatformStep.DEADLINE_CHANGED)) == []


def test_a_sent_decision_waits_for_the_platform_until_it_speaks_again() -> None:
    waiting = link(PlatformStep.REQUESTED, decisions=[sent(DecisionKind.APPROVE_REFUND, timedelta(minutes=5))])
    assert kinds_for(waiting) == []
    # The buyer changed the application after it: the merchant decides again.
    changed = waiting.model_copy(update={"step": PlatformStep.MODIFIED, "occurred_at": APPLIED + timedelta(hours=1)})
    assert kinds_for(changed) == ["approve_refund", "authorise_return", "refuse"]
    confirmed = link(PlatformStep.REQUESTED, decisions=[sent(DecisionKind.REFUSE, timedelta(minutes=5), True)])
    assert kinds_for(confirmed) == ["approve_refund", "authorise_return", "refuse"]


def test_a_platform_refusal_is_a_persons_to_take_up() -> None:
    task = PlatformTask(decision=DecisionKind.APPROVE_REFUND, key="AS-1:approve_refund:3", created_at=APPLIED)
    assert kinds_for(link(PlatformStep.ARBITRATION_DONE, task=task)) == [k.value for k in DecisionKind]


def test_the_forms_refusals_name_their_field() -> None:
    kinds = kinds_for(link(PlatformStep.REQUESTED, kind=AfterSaleKind.REFUND_AFTER_SHIPPING))
    # The model refuses a refusal without its reason for the whole body; the form names the field.
    refused = problems(FormData({"kind": "refuse", "reason": " "}), kinds, {"form": MESSAGES["value_error"]})
    assert refused == {"reason": MESSAGES["missing"]}
    assert problems(FormData({"kind": "refuse", "reason": "opened"}), kinds, {}) == {}
    # A decision the step does not offer (nothing comes back on a refund-only request to authorise).
    assert problems(FormData({"kind": "authorise_return"}), kinds, {}) == {"kind": MESSAGES["enum"]}
    # No marketplace after-sale at all: no decision fits.
    assert problems(FormData({"kind": "approve_refund"}), kinds_for(None), {}) == {"kind": MESSAGES["enum"]}
