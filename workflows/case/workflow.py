"""CaseWorkflow: one after-sales case, from receipt to archive.

Deterministic code only. Everything that touches the world (the database, the outbox, the
ledger, the triage rules) happens in activities. The handlers live in groups, one module
each (handlers/), that the workflow class is composed from: temporalio's `workflow.defn`
collects the updates, signals and queries of base classes (`inspect.getmembers`), so each
group is a class over the deadline loop and the recorder (over `CaseBase`), each person's
action declared with `@action_update` (base.py), and this class keeps only what every
case shares: its state, the lock, the main loop, the queries and the receipt. The recorder
writes every change; the deadline loop keeps the one durable timer."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Stage
    from domain.lifecycle import EventKind
    from domain.records import Transition
    from domain.sla import SlaView, sla_view
    from domain.state import CaseStart, CaseState, CaseView

from workflows.case.base import answer
from workflows.case.deadlines import Deadlines
from workflows.case.handlers.approval import ApprovalHandlers
from workflows.case.handlers.closing import ClosingHandlers
from workflows.case.handlers.contributions import ContributionHandlers
from workflows.case.handlers.execution import ExecutionHandlers
from workflows.case.handlers.handling import HandlingHandlers
from workflows.case.handlers.intake import IntakeHandlers
from workflows.case.handlers.marketplace import MarketplaceHandlers
from workflows.case.handlers.returns import ReturnHandlers
from workflows.case.patches import ASKED_AT_START, PATCHES_AT_START, patched
from workflows.case.recorder import UNSET_AT_START, Recorder


def _archived(case: CaseState) -> bool:
    """Asked afresh: the stage changes while the loop awaits, which a type checker's narrowing
    of `case.stage` by the loop condition does not see."""
    return case.stage is Stage.ARCHIVED


@workflow.defn
class CaseWorkflow(
    IntakeHandlers,
    HandlingHandlers,
    ApprovalHandlers,
    ExecutionHandlers,
    ReturnHandlers,
    ContributionHandlers,
    ClosingHandlers,
    MarketplaceHandlers,
    Deadlines,
    Recorder,
):
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._case = start.state or CaseState(
            number=start.number,
            intake=start.intake,
            policy=start.policy,
            calendar=start.calendar,
            rules=start.rules,
            received_at=start.received_at,
            updated_at=start.received_at,
            cycle_started_at=start.received_at,
            platform=start.platform,
            console_url=start.console_url,
        )
        # Handlers and the main loop each record transitions; the lock keeps
        # timeline sequence numbers in the order the state changed.
        self._lock = asyncio.Lock()
        self._changes = 0
        self._recorded = self._case.seq  # the last sequence number the database has
        self._recorded_categories: list | None = None  # unknown until this run records once
        self._batch: list[Transition] | None = None  # transitions held for one write (coalesced due items)
        self._refusal: str | None = None  # what the database refused for good, if it did
        # Search attribute -> the value last upserted in this run. A new case has none set:
        # its empty keywords need no unset (a continued one may carry them from the last run).
        self._published: dict = {} if start.state else dict.fromkeys(UNSET_AT_START)

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        if patched(PATCHES_AT_START):
            # Every marker in this run's first task (patches.PATCHES_AT_START says why); a new
            # run's one marker, PATCHES_BUNDLED's, answers these without asking them.
            for patch in ASKED_AT_START:
                patched(patch)
        case = self._case
        self._publish()  # visible to operators before the first activity completes
        if start.state is None:
            async with self._lock:
                await self._receive(start.received_by)
        while case.stage is not Stage.ARCHIVED:
            if self._ready_to_execute():
                async with self._lock:
                    # A person may have completed a follow-up task while we waited for the lock.
                    if self._ready_to_execute():
                        await self._execute()
            elif case.stage in (Stage.CLOSED, Stage.WITHDRAWN) and self._may_archive():
                async with self._lock:
                    await self._record(EventKind.ARCHIVED, SYSTEM_ACTOR, stage=Stage.ARCHIVED, archive=True)
            else:
                await self._wait_for_change_or_deadline()
            if workflow.info().is_continue_as_new_suggested() and not _archived(case):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"state": case}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return case.view()

    @workflow.query
    def state(self) -> CaseState:
        return self._case

    @workflow.query
    def sla(self) -> SlaView:
        case = self._case
        view = sla_view(case.clocks, case.policy, case.calendar, workflow.now())
        # The case's own meaning, as on its record and search attributes: a return step due is a
        # deadline too, a missed one a breach.
        return view.model_copy(update={"next_deadline": case.next_deadline, "state": case.sla_state})

    @workflow.update
    async def receipt(self) -> CaseView:
        """Returns once the case is in the database and acknowledged (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._recorded > 0)
        return answer(self._case)  # read back as a CaseView
