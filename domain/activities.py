"""The activities a case calls, declared without their work: names, arguments and results.

The workflow calls them by reference (`workflow.execute_activity_method(CaseActivities.
execute_resolution, ...)`), so a renamed or retyped activity fails where it is called, and
the workflow package still imports nothing that does I/O: activities/case.py subclasses
this class and carries each one out under the same name. This is the "activity interface"
shape of samples-python, whose workflows import the activity definitions; here the
definitions live apart from their database code because `workflows/` may import only
`domain/`. The names are part of every recorded history: never rename one.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from domain.case import LedgerReceipt, StockCheck, TriageRequest, TriageSuggestion
from domain.marketplace import DecisionOutcome, PlatformDecision
from domain.records import RecordedTransition, ResolutionOrder, Transition

# The error type of a record activity whose write the database refused for good (a data
# error): non-retryable, the workflow notes it with `record_failure` and waits for an engineer.
RECORD_REFUSED_ERROR = "RecordRefused"


class CaseActivities:
    @activity.defn(name="record_transition")
    async def record_transition(self, transition: Transition) -> RecordedTransition:
        """Write one transition (idempotent by case number and sequence)."""
        raise NotImplementedError

    @activity.defn(name="record_transitions")
    async def record_transitions(self, transitions: list[Transition]) -> list[RecordedTransition]:
        """Write transitions of one case that became due together, in one transaction."""
        raise NotImplementedError

    @activity.defn(name="record_failure")
    async def record_failure(self, failure: dict[str, Any]) -> None:
        """The database refused a transition for good: note it (number, seq, kind, reason, at)
        for the stuck finder."""
        raise NotImplementedError

    @activity.defn(name="execute_resolution")
    async def execute_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        """Carry out the resolution on `order.route`; fails for good as `RouteFailed`."""
        raise NotImplementedError

    @activity.defn(name="record_manual_resolution")
    async def record_manual_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        """A person carried the resolution out by hand: only the ledger is written."""
        raise NotImplementedError

    @activity.defn(name="check_stock")
    async def check_stock(self, sku: str) -> StockCheck:
        raise NotImplementedError

    @activity.defn(name="suggest_triage")
    async def suggest_triage(self, request: TriageRequest | str) -> TriageSuggestion:
        """A plain string is the complaint text, as cases before the priority rules sent it."""
        raise NotImplementedError


class MarketplaceActivities:
    """Calls to the marketplaces (channels/): the work is in activities/marketplace.py."""

    @activity.defn(name="platform_decide")
    async def platform_decide(self, decision: PlatformDecision) -> DecisionOutcome:
        """Send a decision to the platform (idempotent by `decision.idempotency_key`); a refusal
        comes back as `accepted=False` with the platform's message, an outage is retried."""
        raise NotImplementedError
