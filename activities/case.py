"""Side effects of a case: the record, the outbox, the ledger, the triage rules.

Each is idempotent under Temporal's at-least-once execution: transitions are
keyed by (case number, sequence), resolutions by the approval's key.
"""

from __future__ import annotations

from temporalio import activity

from domain.case import LedgerReceipt, TriageRequest, TriageSuggestion
from domain.records import RecordedTransition, ResolutionOrder, Transition
from domain.triage import DEFAULT_RULES, TriageRules, suggest
from store.cases import CaseStore


class CaseActivities:
    def __init__(self, store: CaseStore, triage_rules: TriageRules = DEFAULT_RULES) -> None:
        self._store = store
        self._triage_rules = triage_rules

    @activity.defn(name="record_transition")
    async def record_transition(self, transition: Transition) -> RecordedTransition:
        written = await self._store.record_transition(transition)
        # Case number, sequence and kind only: personal data never reaches the logs.
        activity.logger.info(
            "%s #%d %s %s", transition.number, transition.seq, transition.kind.value, "recorded" if written else "already recorded"
        )
        return RecordedTransition(number=transition.number, seq=transition.seq, kind=transition.kind, written=written)

    @activity.defn(name="execute_resolution")
    async def execute_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        return await self._store.record_resolution(order)

    @activity.defn(name="suggest_triage")
    async def suggest_triage(self, request: TriageRequest | str) -> TriageSuggestion:
        if isinstance(request, str):  # scheduled by a case started before the priority rules
            return suggest(request, self._triage_rules)
        intake = request.intake
        repeat = await self._store.has_earlier_case(request.number, intake.order.number, intake.product.sku)
        return suggest(intake, self._triage_rules, repeat_failure=repeat)

    @property
    def all(self) -> list:
        return [self.record_transition, self.execute_resolution, self.suggest_triage]
