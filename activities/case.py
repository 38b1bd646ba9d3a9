"""Side effects of a case: the record, the outbox, the ledger, the triage rules.

Each is idempotent under Temporal's at-least-once execution: transitions are
keyed by (case number, sequence), resolutions by the approval's key (and route).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.metrics import counters
from delivery.resolutions import LedgerExecutor, ResolutionExecutor, RouteFailed, RouteUnavailable
from delivery.stock import LocalStock, StockService
from domain import activities as contract
from domain.case import LedgerReceipt, StockCheck, TriageRequest, TriageSuggestion
from domain.records import RecordedTransition, ResolutionOrder, Transition
from domain.triage import DEFAULT_RULES, TriageRules, suggest
from store.cases import CaseStore, refused_for_good
from store.triage_rules import ActiveTriageRules


def _recorded(transition: Transition, written: bool) -> RecordedTransition:
    if activity.info().is_local:  # its marker is all the history keeps: name the event
        return RecordedTransition(number=transition.number, seq=transition.seq, kind=transition.kind, written=written)
    return RecordedTransition(seq=transition.seq, written=written)


@contextmanager
def _refused_for_good(number: str, transitions: list[Transition]) -> Iterator[None]:
    """A write the database refuses for good (a data error) fails at once, non-retryable,
    instead of retrying for ever; the workflow records the failure (RECORD_REFUSED)."""
    try:
        yield
    except DBAPIError as error:
        reason = refused_for_good(error)
        if reason is None:
            raise  # an outage or a lost connection: retried
        kinds = ", ".join(f"#{t.seq} {t.kind.value}" for t in transitions)
        activity.logger.warning("%s %s refused by the database: %s", number, kinds, reason)
        raise ApplicationError(
            f"the database refused {kinds}: {reason}",
            {"reason": reason},
            type=contract.RECORD_REFUSED_ERROR,
            non_retryable=True,
        ) from None


class CaseActivities(contract.CaseActivities):
    """The work behind each activity declared in domain/activities.py, under the same name."""

    def __init__(
        self,
        store: CaseStore,
        executor: ResolutionExecutor | None = None,
        triage_rules: TriageRules | ActiveTriageRules = DEFAULT_RULES,
        *,
        route_attempts: int = 5,
        stock: StockService | None = None,
    ) -> None:
        self._store = store
        self._executor = executor or LedgerExecutor()
        self._triage_rules = triage_rules
        self._stock = stock or LocalStock()
        self._route_attempts = route_attempts

    @activity.defn(name="record_transition")
    async def record_transition(self, transition: Transition) -> RecordedTransition:
        superseded: list[str] = []
        with _refused_for_good(transition.number, [transition]):
            written = await self._store.record_transition(transition, superseded=superseded)
        if written:  # counted once: a retry that finds it recorded counts nothing
            counters().recorded(transition)
        counters().superseded(superseded)
        # Case number, sequence and kind only: personal data never reaches the logs.
        activity.logger.info(
            "%s #%d %s %s",
            transition.number,
            transition.seq,
            transition.kind.value,
            "recorded" if written else "already recorded",
        )
        return _recorded(transition, written)

    @activity.defn(name="record_transitions")
    async def record_transitions(self, transitions: list[Transition]) -> list[RecordedTransition]:
        """Transitions of one case that became due together (a late wake-up), in one transaction."""
        superseded: list[str] = []
        with _refused_for_good(transitions[0].number, transitions):
            written = await self._store.record_transitions(transitions, superseded=superseded)
        for t, new in zip(transitions, written, strict=True):
            if new:
                counters().recorded(t)
        counters().superseded(superseded)
        for t, new in zip(transitions, written, strict=True):
            activity.logger.info(
                "%s #%d %s %s", t.number, t.seq, t.kind.value, "recorded" if new else "already recorded"
            )
        return [_recorded(t, new) for t, new in zip(transitions, written, strict=True)]

    @activity.defn(name="record_failure")
    async def record_failure(self, failure: dict[str, Any]) -> None:
        """The database refused a transition for good: note it for the stuck finder."""
        await self._store.record_failure(
            failure["number"], failure["seq"], failure["kind"], failure["reason"], datetime.fromisoformat(failure["at"])
        )

    @activity.defn(name="execute_resolution")
    async def execute_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        """Carry out the resolution on `order.route` through the adapter, then write the ledger.

        Never pays twice: a resolution already in the ledger (on any route) is returned
        as it is. A route's refusal, or a route still unreachable after the configured
        attempts, fails for good as `RouteFailed` (the workflow tries the next route or
        opens a follow-up task). A failing ledger write (our database) is retried for ever.
        """
        executed = await self._store.executed_resolution(order.key)
        if executed is not None:
            return executed
        try:
            reference = await self._executor.execute(order)
        except RouteFailed as error:
            raise ApplicationError(
                str(error), {"route": order.route}, type="RouteFailed", non_retryable=True
            ) from error
        except RouteUnavailable as error:
            attempt = activity.info().attempt
            if attempt >= self._route_attempts:
                raise ApplicationError(
                    f"route {order.route or 'default'} unreachable after {attempt} attempts: {error}",
                    {"route": order.route},
                    type="RouteFailed",
                    non_retryable=True,
                ) from error
            raise
        activity.logger.info("%s %s carried out on route %s", order.number, order.type.value, order.route or "default")
        return await self._store.record_resolution(order.model_copy(update={"external_reference": reference}))

    @activity.defn(name="record_manual_resolution")
    async def record_manual_resolution(self, order: ResolutionOrder) -> LedgerReceipt:
        """A person carried the resolution out by hand: only the ledger is written."""
        return await self._store.record_resolution(order)

    @activity.defn(name="check_stock")
    async def check_stock(self, sku: str) -> StockCheck:
        return await self._stock.check(sku)

    async def _rules(self) -> TriageRules:
        # The active uploaded version (cached briefly), else the worker's file or defaults.
        rules = self._triage_rules
        return await rules.current() if isinstance(rules, ActiveTriageRules) else rules

    @activity.defn(name="suggest_triage")
    async def suggest_triage(self, request: TriageRequest | str) -> TriageSuggestion:
        rules = await self._rules()
        if isinstance(request, str):  # scheduled by a case started before the priority rules
            return suggest(request, rules)
        intake = request.intake
        repeat = await self._store.has_earlier_case(request.number, intake.order.number, intake.product.sku)
        return suggest(intake, rules, repeat_failure=repeat)

    @property
    def all(self) -> list:
        return [
            self.record_transition,
            self.record_transitions,
            self.record_failure,
            self.execute_resolution,
            self.record_manual_resolution,
            self.check_stock,
            self.suggest_triage,
        ]
