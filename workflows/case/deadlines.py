"""The deadline loop: one durable timer to the next due item; items due together fire together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Outcome, Priority, Role, Stage
    from domain.due import first_sleep, next_item
    from domain.follow_up import FixCheckStatus
    from domain.lifecycle import OPEN_STAGES, EventKind
    from domain.payloads import ClockMissed
    from domain.presenting import rung, timer_summary
    from domain.records import Notification
    from domain.sla import ClockName, DueItem, DueKind, SlaClock

from workflows.case.base import ARCHIVING, EXECUTION_DUE_KINDS, MAX_COALESCED
from workflows.case.patches import COALESCE_DUE_ITEMS, MULTI_DEPARTMENT, WAKE_AHEAD, patched
from workflows.case.recorder import Recorder


class Deadlines(Recorder):
    async def _wait_for_change_or_deadline(self) -> None:
        """Sleep until something happens or the next due item, whichever comes first:
        one durable timer, labelled with what it waits for. A long wait wakes a minute ahead
        and returns, so that the loop sets the last minute from a fresh clock (domain/due.py)."""
        seen = self._changes
        item = self._next_item()
        if item is None:
            await workflow.wait_condition(lambda: self._changes != seen)
            return
        remaining = item.at - workflow.now()
        if remaining > timedelta(0):
            sleep = first_sleep(remaining)
            # Asked only for a wait that wakes ahead: a case recorded before it slept the whole wait.
            if sleep != remaining and not patched(WAKE_AHEAD):
                sleep = remaining
            try:
                await workflow.wait_condition(
                    lambda: self._changes != seen, timeout=sleep, timeout_summary=timer_summary(self._case, item)
                )
                return
            except TimeoutError:
                if sleep != remaining:
                    return
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
                if item is None or item.at > now or not patched(COALESCE_DUE_ITEMS):
                    break
                await self._on_due(item)
        finally:
            batch, self._batch = self._batch, None
        await self._write_together(batch)

    def _next_item(self) -> DueItem | None:
        case = self._case
        # Asked only when a contribution could be due, as before the split: the marker's place
        # in history must not move.
        contributions = bool(case.contributions) and case.stage in OPEN_STAGES and patched(MULTI_DEPARTMENT)
        return next_item(case, contributions=contributions)

    async def _on_due(self, item: DueItem) -> None:
        """Each kind of due item goes to the group that owns it; SLA clocks stay here."""
        owners: Mapping[DueKind, Callable[[DueItem], Awaitable[None]]] = {
            DueKind.CONTRIBUTION: self._contribution_overdue,
            DueKind.UPDATE: self._progress_update,
            DueKind.FIX_CHECK: self._fix_check_due,
        } | dict.fromkeys(EXECUTION_DUE_KINDS, self._on_execution_due)
        await owners.get(item.kind, self._on_clock_due)(item)

    async def _progress_update(self, item: DueItem) -> None:
        """Silence broken at the policy's cadence: the customer hears where the case is."""
        case = self._case
        await self._record(
            EventKind.PROGRESS_UPDATE,
            SYSTEM_ACTOR,
            data={"stage": case.stage.value, "waiting_for": case.waiting_for},
            notify=[Notification(recipient="customer", topic="progress", body={"stage": case.stage.value})],
        )

    async def _fix_check_due(self, item: DueItem) -> None:
        await self._send_fix_check()

    async def _on_clock_due(self, item: DueItem) -> None:
        """An SLA clock's warning, breach or next escalation rung, or a window that closes."""
        case = self._case
        now = workflow.now()
        assert item.clock is not None
        clock = case.clocks[item.clock]
        if item.clock is ClockName.FIX_CHECK:
            clock.meet(now)
            assert case.fix_check is not None
            case.fix_check.status = FixCheckStatus.UNANSWERED
            await self._record(
                EventKind.FIX_CHECK_UNANSWERED,
                SYSTEM_ACTOR,
                waiting_for=ARCHIVING,
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
                waiting_for=ARCHIVING,
                data={"due_at": clock.due_at.isoformat()},
            )
            return
        role, person = self._responsible(item.clock)
        missed = ClockMissed(
            clock=item.clock.value, due_at=clock.due_at.isoformat(), responsible_role=role, responsible_id=person
        )
        if case.department:
            missed.department = case.department.value
        base = missed.data()
        if item.kind is DueKind.WARNING:
            clock.warnings_sent += 1
            recipient = (
                f"employee:{person}"
                if person
                else (f"department:{case.department.value}" if role == "handler" and case.department else role)
            )
            await self._record(
                EventKind.SLA_WARNING,
                SYSTEM_ACTOR,
                data=base | {"fraction": item.fraction},
                notify=[
                    Notification(
                        recipient=recipient,
                        topic="sla_warning",
                        body={"clock": item.clock.value, "fraction": item.fraction},
                    )
                ],
            )
        elif item.kind is DueKind.BREACH:
            clock.breach(now, case.policy, case.calendar)
            escalated_to = rung(case.policy.ladder, 1)
            await self._record(
                EventKind.SLA_BREACHED,
                SYSTEM_ACTOR,
                data=base | {"escalated_to": escalated_to, "escalation_level": 1},
                notify=[
                    Notification(recipient=escalated_to, topic="sla_breached", body={"clock": item.clock.value}),
                    Notification(recipient="customer", topic="delay_notice"),
                ],
            )
        else:
            clock.climb(now, case.policy, case.calendar)
            escalated_to = rung(case.policy.ladder, clock.escalation_level)
            await self._record(
                EventKind.SLA_ESCALATED,
                SYSTEM_ACTOR,
                data=base | {"escalated_to": escalated_to, "escalation_level": clock.escalation_level},
                notify=[Notification(recipient=escalated_to, topic="sla_escalated", body={"clock": item.clock.value})],
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
