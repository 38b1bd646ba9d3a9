"""The triage suggestion for an intake, before any case is opened: what the triage activity would
suggest for it now (the rules in force, a repeat on the same order and product), for the agent
writing a new case (`POST /cases/triage-preview`, the console's new case form). Nothing is
recorded and no case number is taken."""

from __future__ import annotations

from domain.case import CaseIntake, TriageSuggestion
from domain.triage import TriageRules, suggest
from store.cases import CaseStore
from store.triage_rules import ActiveTriageRules

# has_earlier_case compares case numbers: no case bears this one, so every case counts as earlier.
_NO_CASE_YET = ""


async def preview_triage(
    store: CaseStore, rules: TriageRules | ActiveTriageRules, intake: CaseIntake | str
) -> TriageSuggestion:
    """The suggestion for a whole intake, or for a description alone (a form not complete yet:
    no order amount, tier or repeat then counts)."""
    in_force = await rules.current() if isinstance(rules, ActiveTriageRules) else rules
    if isinstance(intake, str):
        return suggest(intake, in_force)
    repeat = await store.has_earlier_case(_NO_CASE_YET, intake.order.number, intake.product.sku)
    return suggest(intake, in_force, repeat_failure=repeat)
