"""Triage rules: keyword and phrase suggestions, priority rules and the routing table.

The rules are versioned data (`TriageRules`, loadable from a JSON or TOML file):
the triage activity evaluates them, so a change applies to the next case
without touching running workflows, and every suggestion names the version
that made it.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from domain.case import (
    CaseIntake,
    Category,
    CategoryMatch,
    CustomerTier,
    Department,
    IntakeFlag,
    Priority,
    TriageSuggestion,
)

DEFAULT_KEYWORDS: Mapping[Category, tuple[str, ...]] = {
    Category.PRODUCT_QUALITY: (
        "broken", "cracked", "won't turn on", "does not turn on", "leaking", "smoke",
        "degumming", "stitching", "fading", "missing part", "defect",
        "坏", "裂", "开不了机", "漏", "冒烟", "开胶", "脱线", "褪色", "缺件", "质量",
    ),
    Category.LOGISTICS: (
        "lost", "late", "not arrived", "never arrived", "damaged in transit", "wrong item", "parcel", "courier",
        "丢件", "延迟", "未收到", "快递", "物流", "发错",
    ),
    Category.USAGE: ("how to", "how do i", "manual", "install", "setup", "怎么用", "使用", "安装"),
    Category.SIZE_FIT: ("size", "too small", "too big", "fit", "尺码", "偏大", "偏小", "不合身"),
    Category.DISCOMFORT: ("uncomfortable", "hurts", "rash", "itchy", "不舒服", "磨脚", "过敏"),
    Category.ORDER_PAYMENT: ("charged twice", "duplicate order", "coupon", "payment", "重复下单", "优惠券", "扣款"),
    Category.REFUND_RETURN: ("refund", "return", "exchange", "退款", "退货", "换货"),
    Category.SERVICE: ("rude", "attitude", "no reply", "promised", "wrong information", "态度", "没人回复", "承诺"),
}  # fmt: skip

DEFAULT_ROUTING: Mapping[Category, Department] = {
    Category.PRODUCT_QUALITY: Department.QUALITY,
    Category.LOGISTICS: Department.LOGISTICS,
    Category.USAGE: Department.TECH_SUPPORT,
    Category.SIZE_FIT: Department.SALES,
    Category.DISCOMFORT: Department.RND_REPAIR,
    Category.ORDER_PAYMENT: Department.OPERATIONS,
    Category.REFUND_RETURN: Department.SALES,
    Category.SERVICE: Department.CUSTOMER_SERVICE,
    Category.OTHER: Department.CUSTOMER_SERVICE,
}

# DOMAIN.md, grade I: safety hazards (electric leak, smoke, food safety) and injury.
DEFAULT_SAFETY_TERMS = (
    "漏电", "冒烟", "起火", "爆炸", "食品安全", "变质", "smoke", "smoking", "leaking", "electric shock",
    "caught fire", "fire", "exploded", "food safety", "food poisoning",
)  # fmt: skip
DEFAULT_INJURY_TERMS = ("受伤", "烫伤", "割伤", "injured", "injury", "burned", "burnt", "cut my", "hospital")
DEFAULT_REPEAT_TERMS = ("again", "second time", "third time", "after repair", "又坏", "再次", "第二次", "修过")

_ORDER = (Priority.P1, Priority.P2, Priority.P3, Priority.P4)


class TriageRules(BaseModel):
    version: str = "2026-11-default"
    keywords: dict[Category, list[str]] = Field(
        default_factory=lambda: {c: list(t) for c, t in DEFAULT_KEYWORDS.items()}
    )
    routing: dict[Category, Department] = Field(default_factory=lambda: dict(DEFAULT_ROUTING))
    safety_terms: list[str] = Field(default_factory=lambda: list(DEFAULT_SAFETY_TERMS))
    injury_terms: list[str] = Field(default_factory=lambda: list(DEFAULT_INJURY_TERMS))
    repeat_terms: list[str] = Field(default_factory=lambda: list(DEFAULT_REPEAT_TERMS))
    # An order paid above this is high-value: its loss or failure is grade I.
    high_value_amount: Decimal = Field(default=Decimal("5000"), ge=0)
    default_priority: Priority = Priority.P3

    @field_validator("keywords")
    @classmethod
    def _no_blank_keyword(cls, keywords: dict[Category, list[str]]) -> dict[Category, list[str]]:
        for category, terms in keywords.items():
            if any(not term.strip() for term in terms):
                raise ValueError(f"a blank term under {category.value} would match every case")
        return keywords

    @field_validator("safety_terms", "injury_terms", "repeat_terms")
    @classmethod
    def _no_blank_term(cls, terms: list[str]) -> list[str]:
        if any(not term.strip() for term in terms):
            raise ValueError("a blank term would match every case")
        return terms

    @field_validator("routing")
    @classmethod
    def _every_suggestion_has_a_department(
        cls, routing: dict[Category, Department], info: ValidationInfo
    ) -> dict[Category, Department]:
        # `suggest` routes to the strongest category, or to "other" when nothing matched.
        needed = {Category.OTHER, *info.data.get("keywords", {})}
        missing = sorted(c.value for c in needed - routing.keys())
        if missing:
            raise ValueError(f"no department for categories: {', '.join(missing)}")
        return routing

    @classmethod
    def parse(cls, text: str, *, toml: bool) -> TriageRules:
        """The rules in a TOML or JSON document's text (the caller reads the file: domain does no I/O)."""
        return cls.model_validate(tomllib.loads(text) if toml else json.loads(text))


class TriageRulesDocument(TriageRules):
    """Triage rules as an admin uploads them: unknown fields are refused (a misspelt
    `keyword` would otherwise be silently ignored), the version is a short plain name."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(default="", max_length=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$")

    def rules(self, version: str) -> TriageRules:
        """The rules stored under `version` (the document's own version must be empty or equal)."""
        return TriageRules.model_validate(self.model_dump() | {"version": version})


DEFAULT_RULES = TriageRules()


def _found(terms: list[str] | tuple[str, ...], text: str) -> list[str]:
    return [term for term in terms if term.casefold() in text]


def _weight(term: str) -> int:
    # A phrase says more than a word: "won't turn on" outweighs "fit".
    return 2 if " " in term.strip() or (len(term) >= 3 and not term.isascii()) else 1


def _raise(priority: Priority, to: Priority) -> Priority:
    return min(priority, to, key=_ORDER.index)


def suggest(
    intake: CaseIntake | str, rules: TriageRules = DEFAULT_RULES, *, repeat_failure: bool = False
) -> TriageSuggestion:
    """Categories whose terms occur in the description, strongest first, each with its
    matched terms and a confidence (its share of the matched weight); the department is
    the routing of the strongest; the priority follows the grade rules, with the reasons."""
    description = intake if isinstance(intake, str) else intake.description
    text = description.casefold()
    hits: list[tuple[int, int, Category, list[str]]] = []
    for order, (category, terms) in enumerate(rules.keywords.items()):
        matched = _found(terms, text)
        if matched:
            hits.append((-sum(map(_weight, matched)), order, category, matched))
    hits.sort()
    total = -sum(weight for weight, *_ in hits)
    matches = [
        CategoryMatch(category=category, terms=matched, confidence=round(-weight / total, 2))
        for weight, _, category, matched in hits
    ]
    priority, reasons = _priority(intake, text, rules, repeat_failure)
    if not matches:
        return TriageSuggestion(
            categories=[Category.OTHER],
            department=rules.routing[Category.OTHER],
            priority=priority,
            reasons=reasons,
            rules_version=rules.version,
        )
    return TriageSuggestion(
        categories=[m.category for m in matches],
        department=rules.routing[matches[0].category],
        matched_terms=[term for m in matches for term in m.terms],
        matches=matches,
        priority=priority,
        reasons=reasons,
        rules_version=rules.version,
    )


def _priority(
    intake: CaseIntake | str, text: str, rules: TriageRules, repeat_failure: bool
) -> tuple[Priority, list[str]]:
    reasons: list[str] = []
    flags = set() if isinstance(intake, str) else set(intake.flags)
    if safety := _found(rules.safety_terms, text):
        reasons.append(f"safety hazard: {', '.join(safety)}")
    if injury := _found(rules.injury_terms, text):
        reasons.append(f"injury: {', '.join(injury)}")
    if IntakeFlag.INJURY in flags and not injury:
        reasons.append("injury reported")
    if IntakeFlag.GROUP_COMPLAINT in flags:
        reasons.append("group complaint")
    if IntakeFlag.MEDIA_ATTENTION in flags:
        reasons.append("media attention")
    if not isinstance(intake, str) and intake.order.paid_amount > rules.high_value_amount:
        reasons.append(f"high-value order: {intake.order.paid_amount} > {rules.high_value_amount}")
    priority = Priority.P1 if reasons else rules.default_priority
    repeat = _found(rules.repeat_terms, text)
    if repeat_failure or repeat or IntakeFlag.REPEAT_FAILURE in flags:
        why = "earlier case on the same order and product" if repeat_failure else ", ".join(repeat) or "reported"
        reasons.append(f"repeat failure ({why}): at least P2")
        priority = _raise(priority, Priority.P2)
    if not isinstance(intake, str) and intake.customer.tier is CustomerTier.VIP and priority is not Priority.P1:
        priority = _ORDER[_ORDER.index(priority) - 1]
        reasons.append(f"VIP customer: raised to {priority.value}")
    return priority, reasons
