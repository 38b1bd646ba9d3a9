"""Triage rules (issue 4): categories with matched terms and confidence, priority rules,
overrides on the timeline, and rules as versioned data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from domain.case import CaseIntake, Category, Department, Priority
from domain.triage import TriageRules, suggest
from tests.conftest import Database
from tests.support.api import post
from tests.support.people import AGENT, intake


def case(**overrides: object) -> CaseIntake:
    return CaseIntake.model_validate(intake(**overrides))


def quiet(description: str, **overrides: object) -> CaseIntake:
    """An intake whose own wording raises nothing: normal customer, modest order."""
    return case(description=description, order={"number": "ORD-1", "paid_amount": "199.00"}, **overrides)


def test_each_category_carries_its_terms_and_a_confidence() -> None:
    suggestion = suggest(quiet("The screen cracked and it won't turn on; the courier was late"))
    assert [m.category for m in suggestion.matches] == [Category.PRODUCT_QUALITY, Category.LOGISTICS]
    quality, logistics = suggestion.matches
    assert (set(quality.terms), set(logistics.terms)) == ({"cracked", "won't turn on"}, {"late", "courier"})
    # "won't turn on" is a phrase (weight 2): quality 3 of 5, logistics 2 of 5.
    assert (quality.confidence, logistics.confidence) == (0.6, 0.4)
    assert suggestion.department is Department.QUALITY
    assert suggestion.rules_version == "2026-11-default"


@pytest.mark.parametrize(
    ("description", "flags", "reason"),
    [
        ("插座漏电了", [], "safety hazard: 漏电"),
        ("The base started to smoke", [], "safety hazard: smoke"),
        ("食品安全问题，饼干发霉", [], "safety hazard: 食品安全"),
        ("My son burned his hand on it", [], "injury: burned"),
        ("Twenty of us bought the same faulty chair", ["group_complaint"], "group complaint"),
        ("A blogger posted about this", ["media_attention"], "media attention"),
    ],
)
def test_grade_one_rules_make_it_p1(description: str, flags: list[str], reason: str) -> None:
    suggestion = suggest(quiet(description, flags=flags))
    assert suggestion.priority is Priority.P1
    assert reason in suggestion.reasons


def test_high_value_order_is_p1_above_the_configured_amount() -> None:
    rules = TriageRules(high_value_amount=Decimal("3000"))
    expensive = case(description="The sofa has a stain", order={"number": "ORD-2", "paid_amount": "3899.00"})
    assert suggest(expensive, rules).priority is Priority.P1
    assert "high-value order: 3899.00 > 3000" in suggest(expensive, rules).reasons
    at_limit = case(description="The sofa has a stain", order={"number": "ORD-3", "paid_amount": "3000.00"})
    assert suggest(at_limit, rules).priority is Priority.P3


def test_repeat_failure_is_at_least_p2_and_vip_raises_one_level() -> None:
    assert suggest(quiet("Left shoe stitching")).priority is Priority.P3
    assert suggest(quiet("Left shoe stitching came loose again")).priority is Priority.P2
    assert suggest(quiet("Left shoe stitching"), repeat_failure=True).priority is Priority.P2
    vip = {"name": "王五", "tier": "vip"}
    assert suggest(quiet("Left shoe stitching", customer=vip)).priority is Priority.P2
    raised = suggest(quiet("Left shoe stitching came loose again", customer=vip))
    assert raised.priority is Priority.P1
    assert raised.reasons[-1] == "VIP customer: raised to P1"
    assert suggest(quiet("插座漏电了", customer=vip)).priority is Priority.P1  # no higher than P1


def test_rules_are_versioned_data_loaded_from_a_file(tmp_path: Path) -> None:
    rules_file = tmp_path / "triage.toml"
    rules_file.write_text(
        'version = "2026-12-shoes"\n'
        "high_value_amount = 100\n"
        "[keywords]\n"
        'size_fit = ["half a size", "偏大"]\n'
        "[routing]\n"
        'size_fit = "sales"\n'
        'other = "customer_service"\n',
        encoding="utf-8",
    )
    rules = Settings(triage_rules_file=rules_file).triage_rules()
    suggestion = suggest(quiet("These run half a size small"), rules)
    assert suggestion.rules_version == "2026-12-shoes"
    assert suggestion.categories == [Category.SIZE_FIT] and suggestion.department is Department.SALES
    assert suggestion.priority is Priority.P1  # 199.00 paid is above this version's 100


async def test_the_suggestion_and_an_override_with_its_reason_reach_the_timeline(
    api: httpx.AsyncClient, database: Database
) -> None:
    body = intake(description="水壶漏电，底座冒烟", order={"number": "ORD-REPEAT-7", "paid_amount": "299.00"})
    first = await post(api, "/cases", body, AGENT)
    suggestion = first["suggestion"]
    assert suggestion["priority"] == "P1"
    assert suggestion["reasons"] == ["safety hazard: 漏电, 冒烟"]
    assert suggestion["matches"][0]["category"] == "product_quality"

    decision = {
        "categories": ["product_quality"],
        "priority": "P2",
        "department": "quality",
        "override_reason": "photo shows only a scorched plug, no leak",
    }
    triaged = await post(api, f"/cases/{first['number']}/triage", decision, AGENT)
    assert triaged["priority"] == "P2"
    (event,) = [e for e in await database.store.timeline(first["number"]) if e.kind == "triaged"]
    assert event.data["overrides"] == {"priority": {"suggested": "P1", "chosen": "P2"}}
    assert event.data["override_reason"] == "photo shows only a scorched plug, no leak"
    assert event.data["suggestion_overridden"] is True

    # The same product of the same order again: a repeat failure, at least P2.
    again = await post(api, "/cases", intake(description="The lid hinge broke", order=body["order"]), AGENT)
    assert again["suggestion"]["priority"] == "P2"
    assert "repeat failure (earlier case on the same order and product): at least P2" in again["suggestion"]["reasons"]
