"""Closing and after: feedback and reopening, the result, call-backs, fix checks, withdrawal and duplicates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import (
        SYSTEM_ACTOR,
        Actor,
        DuplicateLink,
        DuplicateMark,
        Feedback,
        Outcome,
        Role,
        Stage,
        Withdrawal,
    )
    from domain.follow_up import CallBackCompletion, CallBackTask, FixCheck, FixCheckAnswer, FixCheckStatus, ResultTold
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification
    from domain.refusals import Refusal
    from domain.sla import ClockName, SlaClock

from workflows.case.base import ARCHIVING, Next, action_update, refuse
from workflows.case.deadlines import Deadlines
from workflows.case.patches import CALL_BACK_TASK, FIX_CHECK, REOPEN_LIMIT, patched


class ClosingHandlers(Deadlines):
    @action_update(Action.FEEDBACK)
    async def record_feedback(self, actor: Actor, feedback: Feedback) -> None:
        case = self._case
        case.feedback.append(feedback)
        now = workflow.now()
        self._meet(ClockName.SURVEY, now)
        # The customer answering the survey has heard the result.
        self._meet(ClockName.RESULT, now)
        data = feedback.model_dump(mode="json")
        if feedback.reopens:
            reason = f"survey score {feedback.score}" + (" (not satisfied)" if feedback.satisfied is False else "")
            await self._reopen(actor, data, reason, score=feedback.score)
            return
        case.outcome = Outcome.SATISFIED
        case.closed_at = now
        # A resolution was carried out: days later the customer is asked whether it held.
        # A case answered at first contact was told something, not fixed: it archives.
        window = self._target(ClockName.FIX_CHECK)
        checks = case.receipt is not None and window is not None and patched(FIX_CHECK)
        notify = [Notification(recipient="customer", topic="closed")]
        if checks:
            assert window is not None
            case.fix_check = FixCheck(
                ask_at=now + timedelta(days=case.rules.fix_check_after_days), answer_within=window
            )
            ask_at = case.fix_check.ask_at.isoformat()
            data |= {"fix_check_at": ask_at}
            notify = [Notification(recipient="customer", topic="closed", body={"fix_check_at": ask_at})]
        waiting_for = self._fix_check_wait() if checks else ARCHIVING
        await self._record(
            EventKind.CLOSED, actor, stage=Stage.CLOSED, waiting_for=waiting_for, data=data, notify=notify
        )

    async def _reopen(self, actor: Actor, data: dict[str, Any], reason: str, *, score: int | None = None) -> None:
        """Back to triage with the same number (a low score, or a fix that did not hold); a
        person calls the customer back."""
        case = self._case
        case.reopen(workflow.now())
        call_back_task = patched(CALL_BACK_TASK)
        notify = [Notification(recipient="customer", topic="reopened")]
        if not call_back_task:
            notify.insert(0, Notification(recipient="agent", topic="call_back", body={"score": score}))
        await self._record(
            EventKind.REOPENED, actor, Next(Stage.REOPENED, "triage by an agent (reopened)"), data=data, notify=notify
        )
        if case.rules.reopen_limit_reached(case.reopen_count) and patched(REOPEN_LIMIT):
            await self._record(
                EventKind.REOPEN_LIMIT_REACHED,
                SYSTEM_ACTOR,
                waiting_for=f"the after-sales head (reopened {case.reopen_count} times)",
                data={"reopen_count": case.reopen_count, "limit": case.rules.reopen_limit},
                notify=[Notification(recipient=Role.HEAD.value, topic="reopen_limit_reached")],
            )
        if call_back_task:
            await self._open_call_back(reason)

    async def _open_call_back(self, reason: str) -> None:
        """A task for an agent to call the customer back, with its deadline (the `call_back`
        clock). One at a time: whoever calls back reads the whole timeline."""
        case = self._case
        if case.call_back is not None:
            return
        now = workflow.now()
        self._start_clock(ClockName.CALL_BACK, now)
        clock = case.clocks.get(ClockName.CALL_BACK)
        case.call_back = CallBackTask(reason=reason, created_at=now, due_at=clock.due_at if clock else None)
        await self._record(
            EventKind.CALL_BACK_TASK_CREATED,
            SYSTEM_ACTOR,
            data={
                "reason": reason,
                "assigned_to": Role.AGENT.value,
                "due_at": clock.due_at.isoformat() if clock else None,
            },
            notify=[Notification(recipient=Role.AGENT.value, topic="call_back", body={"reason": reason})],
        )

    @action_update(Action.TELL_RESULT)
    async def tell_result(self, actor: Actor, told: ResultTold) -> None:
        """An agent told the customer the result, what was done and what follow-up to expect."""
        now = workflow.now()
        self._case.result_told_at = now
        self._meet(ClockName.RESULT, now)
        await self._record(EventKind.RESULT_TOLD, actor, data=told)

    def _check_call_back(self, actor: Actor, completion: CallBackCompletion) -> None:
        if self._case.call_back is None:
            raise self._nothing_open("open call-back task")

    @action_update(Action.COMPLETE_CALL_BACK, check=_check_call_back)
    async def complete_call_back(self, actor: Actor, completion: CallBackCompletion) -> None:
        case = self._case
        task = case.call_back
        assert task is not None
        self._meet(ClockName.CALL_BACK, workflow.now())
        case.call_back = None
        done = {"task_reason": task.reason, "task_created_at": task.created_at.isoformat()}
        await self._record(EventKind.CALL_BACK_COMPLETED, actor, data=completion.model_dump(mode="json") | done)

    def _check_fix_check(self, actor: Actor, answer: FixCheckAnswer) -> None:
        fix = self._case.fix_check
        if fix is None or not fix.pending:
            raise self._nothing_open("pending fix check")

    @action_update(Action.ANSWER_FIX_CHECK, check=_check_fix_check)
    async def answer_fix_check(self, actor: Actor, answer: FixCheckAnswer) -> None:
        """The customer's answer to the fix check: held archives the case, not held reopens it."""
        fix = self._case.fix_check
        assert fix is not None
        now = workflow.now()
        fix.answered_at = now
        self._meet(ClockName.FIX_CHECK, now)
        data = answer.model_dump(mode="json")
        if answer.held:
            fix.status = FixCheckStatus.HELD
            await self._record(EventKind.FIX_CONFIRMED, actor, waiting_for=ARCHIVING, data=data)
        else:
            fix.status = FixCheckStatus.NOT_HELD
            await self._reopen(actor, data | {"reason": "the fix did not hold"}, "the fix did not hold")

    def _fix_check_wait(self) -> str:
        fix = self._case.fix_check
        assert fix is not None
        return f"the fix check on {fix.ask_at.astimezone(self._case.calendar.zone).date().isoformat()}"

    def _may_archive(self) -> bool:
        """A closed case archives once nothing is left to do: no fix check to ask or answer,
        no customer to call back (a case is never silently dropped)."""
        case = self._case
        return not (case.fix_check is not None and case.fix_check.pending) and case.call_back is None

    async def _send_fix_check(self) -> None:
        """Days after a satisfied close: ask the customer whether the fix held."""
        case = self._case
        fix = case.fix_check
        assert fix is not None
        now = workflow.now()
        fix.status = FixCheckStatus.SENT
        fix.sent_at = now
        clock = SlaClock.start(ClockName.FIX_CHECK, fix.answer_within, now, case.calendar)
        case.clocks[ClockName.FIX_CHECK] = clock
        await self._record(
            EventKind.FIX_CHECK_SENT,
            SYSTEM_ACTOR,
            waiting_for="the customer's answer to the fix check",
            data={
                "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                "answer_due_at": clock.due_at.isoformat(),
            },
            notify=[
                Notification(recipient="customer", topic="fix_check", body={"answer_due_at": clock.due_at.isoformat()})
            ],
        )

    @action_update(Action.WITHDRAW)
    async def withdraw(self, actor: Actor, withdrawal: Withdrawal) -> None:
        self._case.close_as(Outcome.WITHDRAWN, workflow.now())
        notify = [Notification(recipient="customer", topic="withdrawn")]
        await self._record(EventKind.WITHDRAWN, actor, Next(Stage.WITHDRAWN, ARCHIVING), data=withdrawal, notify=notify)

    def _check_not_itself(self, actor: Actor, mark: DuplicateMark) -> None:
        if mark.original == self._case.number:
            raise refuse(Refusal.INVALID_PLAN, "a case cannot duplicate itself", {"field": "original"})

    @action_update(Action.MARK_DUPLICATE, validate_only=_check_not_itself)
    async def mark_duplicate(self, actor: Actor, mark: DuplicateMark) -> None:
        case = self._case
        case.duplicate_of = mark.original
        case.close_as(Outcome.DUPLICATE, workflow.now())
        notify = [Notification(recipient="customer", topic="duplicate", body={"original": mark.original})]
        await self._record(EventKind.MARKED_DUPLICATE, actor, Next(Stage.CLOSED, ARCHIVING), data=mark, notify=notify)
        # The original notes the link on its own timeline; the API checked it is open.
        original = workflow.get_external_workflow_handle(mark.original)
        try:
            await original.signal(ClosingHandlers.link_duplicate, DuplicateLink(duplicate=case.number, marked_by=actor))
        except Exception:  # noqa: BLE001 - archived meanwhile: the link stays on this case's record
            workflow.logger.warning("%s: original %s no longer takes signals", case.number, mark.original)

    @workflow.signal
    async def link_duplicate(self, link: DuplicateLink) -> None:
        await workflow.wait_condition(lambda: self._case.seq > 0)
        async with self._lock:
            case = self._case
            if case.stage is Stage.ARCHIVED or link.duplicate in case.duplicates:
                return
            case.duplicates.append(link.duplicate)
            await self._record(EventKind.DUPLICATE_LINKED, link.marked_by, data={"duplicate": link.duplicate})
