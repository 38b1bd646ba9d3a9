"""The deadline loop: one durable timer to the next due item; items due together fire together."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.activities import CaseActivities
    from domain.case import Outcome, Priority, Role, SYSTEM_ACTOR, Stage
    from domain.contribution import next_overdue
    from domain.follow_up import FixCheckStatus
    from domain.lifecycle import EventKind, OPEN_STAGES
    from domain.records import Notification
    from domain.sla import ClockName, DueItem, DueKind, SlaClock, label, next_due

from workflows.case.base import CaseBase, EXECUTION_DUE_KINDS, MAX_COALESCED, RECORD_RETRY
from workflows.case.patches import COALESCE_DUE_ITEMS, MULTI_DEPARTMENT


class Deadlines(CaseBase):
    async def _wait_for_change_or_deadline(self) -> None:
        """Sleep until something happens or the next due item, whichever comes first:
        one durable timer, labelled with what it waits for."""
        seen = self._changes
        item = self._next_item()
        if item is None:
            await workflow.wait_condition(lambda: self._changes != seen)
            return
        remaining = item.at - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self._changes != seen, timeout=remaining, timeout_summary=self._summary(item)
                )
                return
            except asyncio.TimeoutError:
                pass
        async with self._lock:
            # A handler may have met, paused or replaced the clock while we waited for the lock.
            if self._next_item() == item:
                await self._on_due_together(item)

    async def _on_due_together(self, first: DueItem) -> None:
        """`first` and every item already due with it, recorded with one activity. Alone, it is
        recorded as before the patch, which is asked only when a second item is due: a case
        whose timers fire on time carries no marker."""
        now = workflow.now()
        self._batch = []
        try:
            await self._on_due(first)
            for _ in range(MAX_COALESCED - 1):
                item = self._next_item()
                if item is None or item.at > now or not workflow.patched(COALESCE_DUE_ITEMS):
                    break
                await self._on_due(item)
        finally:
            batch, self._batch = self._batch, None
        if len(batch) > 1 and not workflow.patched(COALESCE_DUE_ITEMS):
            # One due item may record several events (a default that also resumes clocks);
            # recorded before this patch, each was its own write, in order.
            for transition in batch:
                await self._write(transition)
        elif len(batch) == 1:
            await self._write(batch[0])
        elif batch:
            self._publish()
            await self._own_activity(
                CaseActivities.record_transitions,
                batch,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary="record " + ", ".join(t.kind.value for t in batch),
            )
            self._recorded = batch[-1].seq

    def _next_item(self) -> DueItem | None:
        case = self._case
        item = next_due(case.clocks, case.policy, case.calendar)
        fix = case.fix_check
        if fix is not None and fix.status is FixCheckStatus.SCHEDULED and (item is None or fix.ask_at < item.at):
            item = DueItem(kind=DueKind.FIX_CHECK, clock=None, at=fix.ask_at)
        update_at = case.next_update_at
        if update_at is not None and (item is None or update_at < item.at):
            item = DueItem(kind=DueKind.UPDATE, clock=None, at=update_at)
        if case.contributions and case.stage in OPEN_STAGES and workflow.patched(MULTI_DEPARTMENT):
            due = next_overdue(case.contributions)
            if due is not None and (item is None or due.due_at < item.at):
                item = DueItem(kind=DueKind.CONTRIBUTION, clock=None, at=due.due_at, department=due.department.value)
        waiting = self._execution_due()
        if waiting is not None and (item is None or waiting.at < item.at):
            return waiting
        return item

    def _execution_due(self) -> DueItem | None:
        """An execution's wait with a deadline: the return step due from logistics or the
        warehouse, or the reminder or default of an unanswered exchange offer."""
        case = self._case
        offer = case.exchange_offer
        if offer is not None and case.exchange_choice is None:
            if offer.reminded_at is None and offer.remind_at is not None:
                return DueItem(kind=DueKind.EXCHANGE_REMINDER, clock=None, at=offer.remind_at)
            if offer.default_at is not None:
                return DueItem(kind=DueKind.EXCHANGE_DEFAULT, clock=None, at=offer.default_at)
        progress = case.returns
        if progress is not None and progress.leg is not None and progress.due_at is not None and not progress.overdue:
            return DueItem(kind=DueKind.RETURN_STEP, clock=None, at=progress.due_at)
        return None

    def _summary(self, item: DueItem) -> str:
        case = self._case
        when = item.at.astimezone(case.calendar.zone).isoformat(timespec="minutes")
        priority = f" {case.priority.value}" if case.priority else ""
        if item.kind is DueKind.UPDATE:
            return f"progress update to the customer due {when}"
        if item.kind is DueKind.RETURN_STEP and case.returns is not None and case.returns.leg is not None:
            leg = case.returns.leg
            return f"{case.returns.kind.value} step {' or '.join(s.value for s in leg.steps)} due from {leg.sender.value} {when}"
        if item.kind is DueKind.EXCHANGE_REMINDER:
            return f"reminder of the unanswered exchange offer due {when}"
        if item.kind is DueKind.EXCHANGE_DEFAULT:
            return f"unanswered exchange offer becomes a refund {when}"
        if item.kind is DueKind.FIX_CHECK:
            return f"fix check to the customer due {when}"
        if item.kind is DueKind.CONTRIBUTION:
            return f"contribution from {item.department} due {when}"
        if item.kind is DueKind.WARNING:
            return f"SLA {label(item.clock)}{priority} warning at {item.fraction:.0%} due {when}"
        if item.kind is DueKind.CLIMB:
            rung = self._rung(case.clocks[item.clock].escalation_level + 1)
            return f"SLA {label(item.clock)}{priority} escalation to {rung} due {when}"
        if item.clock is ClockName.SURVEY:
            return f"survey window closes {when}"
        if item.clock is ClockName.FIX_CHECK:
            return f"fix check answer window closes {when}"
        return f"SLA {label(item.clock)}{priority} due {when}"

    def _rung(self, level: int) -> str:
        ladder = self._case.policy.ladder
        return ladder[min(level, len(ladder)) - 1]

    async def _on_due(self, item: DueItem) -> None:
        case = self._case
        now = workflow.now()
        if item.kind is DueKind.CONTRIBUTION:
            await self._contribution_overdue(item)
            return
        if item.kind is DueKind.UPDATE:
            await self._record(
                EventKind.PROGRESS_UPDATE,
                SYSTEM_ACTOR,
                data={"stage": case.stage.value, "waiting_for": case.waiting_for},
                notify=[Notification(recipient="customer", topic="progress", body={"stage": case.stage.value})],
            )
            return
        if item.kind in EXECUTION_DUE_KINDS:
            await self._on_execution_due(item)
            return
        if item.kind is DueKind.FIX_CHECK:
            await self._send_fix_check()
            return
        assert item.clock is not None
        clock = case.clocks[item.clock]
        if item.clock is ClockName.FIX_CHECK:
            clock.meet(now)
            assert case.fix_check is not None
            case.fix_check.status = FixCheckStatus.UNANSWERED
            await self._record(
                EventKind.FIX_CHECK_UNANSWERED,
                SYSTEM_ACTOR,
                waiting_for="archiving",
                data={"due_at": clock.due_at.isoformat()},
            )
            return
        if item.clock is ClockName.SURVEY:
            clock.meet(now)
            case.outcome = Outcome.NO_RESPONSE
            case.closed_at = now
            await self._record(
                EventKind.SURVEY_EXPIRED,
                SYSTEM_ACTOR,
                stage=Stage.CLOSED,
                waiting_for="archiving",
                data={"due_at": clock.due_at.isoformat()},
            )
            return
        role, person = self._responsible(item.clock)
        base = {"clock": item.clock.value, "due_at": clock.due_at.isoformat(), "responsible_role": role, "responsible_id": person}
        if case.department:
            base["department"] = case.department.value
        if item.kind is DueKind.WARNING:
            clock.warnings_sent += 1
            recipient = f"employee:{person}" if person else (f"department:{case.department.value}" if role == "handler" and case.department else role)
            await self._record(
                EventKind.SLA_WARNING,
                SYSTEM_ACTOR,
                data=base | {"fraction": item.fraction},
                notify=[Notification(recipient=recipient, topic="sla_warning", body={"clock": item.clock.value, "fraction": item.fraction})],
            )
        elif item.kind is DueKind.BREACH:
            clock.breach(now, case.policy, case.calendar)
            rung = self._rung(1)
            await self._record(
                EventKind.SLA_BREACHED,
                SYSTEM_ACTOR,
                data=base | {"escalated_to": rung, "escalation_level": 1},
                notify=[
                    Notification(recipient=rung, topic="sla_breached", body={"clock": item.clock.value}),
                    Notification(recipient="customer", topic="delay_notice"),
                ],
            )
        else:
            clock.climb(now, case.policy, case.calendar)
            rung = self._rung(clock.escalation_level)
            await self._record(
                EventKind.SLA_ESCALATED,
                SYSTEM_ACTOR,
                data=base | {"escalated_to": rung, "escalation_level": clock.escalation_level},
                notify=[Notification(recipient=rung, topic="sla_escalated", body={"clock": item.clock.value})],
            )

    def _responsible(self, clock: ClockName) -> tuple[str, str | None]:
        """Who a miss is recorded against: an agent for what customer service owes the customer
        (first reply, telling the result, a call-back), else the handler."""
        if clock in (ClockName.FIRST_REPLY, ClockName.RESULT, ClockName.CALL_BACK):
            return Role.AGENT.value, None
        return Role.HANDLER.value, self._case.assignee

    def _target(self, name: ClockName):  # noqa: ANN202 - Target | None
        case = self._case
        # Before triage: the suggested priority (patch first-reply-by-priority), else a normal case.
        priority = case.priority or case.provisional_priority or Priority.P3
        return case.policy.target(name, priority, case.intake.customer.tier, case.intake.channel)

    def _start_clock(self, name: ClockName, at) -> None:  # noqa: ANN001 - datetime
        target = self._target(name)
        if target is not None:
            self._case.clocks[name] = SlaClock.start(name, target, at, self._case.calendar)
        else:
            self._case.clocks.pop(name, None)

    def _meet(self, name: ClockName, at) -> None:  # noqa: ANN001 - datetime
        clock = self._case.clocks.get(name)
        if clock is not None:
            clock.meet(at)
