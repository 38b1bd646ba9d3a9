"""Pure domain rules: masking, triage suggestions, stage rules."""

from __future__ import annotations

import pytest

from domain.case import Category, Department, Feedback, Stage, format_case_number
from domain.lifecycle import Action, ActionNotAllowed, check_allowed
from domain.privacy import mask_email, mask_name, mask_phone
from domain.triage import TriageRules, suggest


def test_masking_keeps_only_what_identifies_nobody() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("Li") == "L*"
    assert mask_name("A") == "A*"
    assert mask_phone("+86 138 0013 8000") == "*******8000"
    assert mask_phone("13800138000") == "*******8000"
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_name(None) is None and mask_phone(None) is None


@pytest.mark.parametrize(
    ("description", "first", "department"),
    [
        ("The screen cracked and it won't turn on", Category.PRODUCT_QUALITY, Department.QUALITY),
        ("水壶漏水，底座冒烟", Category.PRODUCT_QUALITY, Department.QUALITY),
        ("My parcel never arrived, the courier says lost", Category.LOGISTICS, Department.LOGISTICS),
        ("尺码偏小，想换大一号", Category.SIZE_FIT, Department.SALES),
        ("I was charged twice for one order", Category.ORDER_PAYMENT, Department.OPERATIONS),
        ("Hello there", Category.OTHER, Department.CUSTOMER_SERVICE),
    ],
)
def test_keyword_suggestion(description: str, first: Category, department: Department) -> None:
    suggestion = suggest(description)
    assert suggestion.categories[0] is first
    assert suggestion.department is department


def test_suggestion_lists_every_matched_category_and_term() -> None:
    suggestion = suggest("Parcel arrived late and the kettle inside is broken and leaking")
    assert suggestion.categories == [Category.PRODUCT_QUALITY, Category.LOGISTICS]
    assert {"broken", "leaking", "late", "parcel"} <= set(suggestion.matched_terms)


def test_triage_rules_parse_from_a_documents_text_in_json_or_toml() -> None:
    # The file is read by the caller (core/settings.py): the rules only ever see its text.
    as_json = '{"version": "v-json", "keywords": {"size_fit": ["偏大"]}, "routing": {"size_fit": "sales", "other": "customer_service"}}'
    as_toml = 'version = "v-toml"\n[keywords]\nsize_fit = ["偏大"]\n[routing]\nsize_fit = "sales"\nother = "customer_service"\n'
    for rules, version in (
        (TriageRules.parse(as_json, toml=False), "v-json"),
        (TriageRules.parse(as_toml, toml=True), "v-toml"),
    ):
        assert rules.version == version
        assert rules.keywords == {Category.SIZE_FIT: ["偏大"]} and rules.routing[Category.SIZE_FIT] is Department.SALES
    with pytest.raises(ValueError, match="no department for categories"):
        TriageRules.parse('{"keywords": {"size_fit": ["偏大"]}, "routing": {"other": "sales"}}', toml=False)


def test_stage_rules_name_the_current_stage() -> None:
    check_allowed(Action.APPROVE, Stage.PLAN_PROPOSED)
    with pytest.raises(ActionNotAllowed, match="cannot approve while the case is in_handling"):
        check_allowed(Action.APPROVE, Stage.IN_HANDLING)
    for stage in (Stage.EXECUTING, Stage.AWAITING_FEEDBACK, Stage.CLOSED, Stage.ARCHIVED):
        with pytest.raises(ActionNotAllowed):
            check_allowed(Action.WITHDRAW, stage)


@pytest.mark.parametrize(
    ("score", "satisfied", "reopens"),
    [(1, None, True), (3, None, True), (4, None, False), (5, False, True), (5, True, False)],
)
def test_feedback_reopens_at_three_or_less_or_when_not_satisfied(
    score: int, satisfied: bool | None, reopens: bool
) -> None:
    assert Feedback(score=score, satisfied=satisfied).reopens is reopens


def test_case_numbers_are_opaque_and_sortable() -> None:
    assert format_case_number("AS", "20261123", 42) == "AS-20261123-000042"
